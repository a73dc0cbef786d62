"""RetryPolicy: defaults, validation when built, and the jittered backoff formula."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from pydantic import ValidationError

from beluga_core.workflow import RetryPolicy


def test_default_policy_is_three_attempts_100ms_doubling_up_to_10s() -> None:
    policy = RetryPolicy.default()
    assert (
        policy.max_attempts,
        policy.initial_interval,
        policy.backoff_coefficient,
        policy.max_interval,
    ) == (
        3,
        timedelta(milliseconds=100),
        2.0,
        timedelta(seconds=10),
    )


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"initial_interval": timedelta(0)}, "initial_interval"),
        ({"initial_interval": timedelta(seconds=-1)}, "initial_interval"),
        ({"backoff_coefficient": 0.5}, "backoff_coefficient"),
        ({"max_interval": timedelta(0)}, "max_interval"),
        ({"initial_interval": timedelta(seconds=5), "max_interval": timedelta(seconds=1)}, "max_interval"),
    ],
)
def test_invalid_policy_is_rejected_when_built(fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        RetryPolicy(**fields)  # type: ignore[arg-type]


def test_base_delay_grows_by_the_coefficient_and_stops_at_max() -> None:
    policy = RetryPolicy(
        initial_interval=timedelta(seconds=1), backoff_coefficient=3.0, max_interval=timedelta(seconds=20)
    )
    assert [policy.base_delay(k).total_seconds() for k in (1, 2, 3, 4)] == [1.0, 3.0, 9.0, 20.0]


def test_jittered_delay_stays_within_half_and_one_and_a_half_of_base() -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=2), max_interval=timedelta(seconds=100))
    rng = random.Random(7)
    delays = [policy.delay(2, rng).total_seconds() for _ in range(500)]
    assert min(delays) >= 2.0 and max(delays) < 6.0
    assert max(delays) - min(delays) > 3.0  # really jittered, not constant


def test_jittered_delay_never_exceeds_max_interval() -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=8), max_interval=timedelta(seconds=10))
    rng = random.Random(1)
    assert max(policy.delay(3, rng) for _ in range(200)) <= timedelta(seconds=10)


@pytest.mark.parametrize("error_type", ["NonRetryableError", "InvalidInputError", "KeyError"])
def test_listed_and_builtin_non_retryable_types_are_not_retried(error_type: str) -> None:
    policy = RetryPolicy(non_retryable_errors=("KeyError",))
    assert not policy.is_retryable(error_type)
    assert policy.is_retryable("ConnectionError")


def test_policy_round_trips_through_json() -> None:
    policy = RetryPolicy(max_attempts=5, non_retryable_errors=("ValueError",))
    assert RetryPolicy.model_validate_json(policy.model_dump_json()) == policy
