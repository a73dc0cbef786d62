"""Retry policy for activities: exponential backoff with jitter."""

from __future__ import annotations

import random
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Error type names that are never retried, whatever the policy says.
ALWAYS_NON_RETRYABLE = frozenset({"NonRetryableError", "InvalidInputError"})


class RetryPolicy(BaseModel):
    """How an activity is retried.

    ``max_attempts`` counts the first try. The delay before retry ``k`` (k = 1 for the second attempt) is
    ``min(max_interval, base_k * U[0.5, 1.5))`` with ``base_k = min(max_interval, initial_interval *
    backoff_coefficient ** (k - 1))``. Temporal's retry policy has no jitter: on the TemporalExecutor the
    delay is ``base_k`` exactly.

    ``non_retryable_errors`` lists exception type names (``type(exc).__name__``, matched exactly) that fail
    the activity at once. Raising :class:`~beluga_core.workflow.errors.NonRetryableError` does the same, and
    so does :class:`~beluga_core.workflow.errors.InvalidInputError` (bad input does not get better with
    retries).
    """

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=3, ge=1)
    initial_interval: timedelta = timedelta(milliseconds=100)
    backoff_coefficient: float = Field(default=2.0, ge=1.0)
    max_interval: timedelta = timedelta(seconds=10)
    non_retryable_errors: tuple[str, ...] = ()

    @field_validator("initial_interval", "max_interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"must be a positive duration, got {value}")
        return value

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryPolicy:
        if self.max_interval < self.initial_interval:
            raise ValueError(
                f"max_interval ({self.max_interval}) must be >= initial_interval ({self.initial_interval})"
            )
        return self

    @classmethod
    def default(cls) -> RetryPolicy:
        """3 attempts, 100 ms initial interval, x2.0 backoff, at most 10 s between attempts."""
        return cls()

    @classmethod
    def no_retries(cls) -> RetryPolicy:
        """A single attempt."""
        return cls(max_attempts=1)

    def base_delay(self, retry: int) -> timedelta:
        """The delay before retry ``retry`` (1-based) without jitter."""
        seconds = self.initial_interval.total_seconds() * self.backoff_coefficient ** (retry - 1)
        return min(self.max_interval, timedelta(seconds=seconds))

    def delay(self, retry: int, rng: random.Random | None = None) -> timedelta:
        """The jittered delay before retry ``retry`` (1-based)."""
        jitter = (rng or random).uniform(0.5, 1.5)
        return min(self.max_interval, self.base_delay(retry) * jitter)

    def is_retryable(self, error_type: str) -> bool:
        """Whether an error of this type name may be retried under this policy."""
        return error_type not in self.non_retryable_errors and error_type not in ALWAYS_NON_RETRYABLE
