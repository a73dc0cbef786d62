"""Bad input to the test environments: clear errors naming the thing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from beluga_core.workflow import InvalidInputError
from beluga_temporal.testing import TemporalTestEnv, start_test_server

from . import workflows as wf

BELUGA_WORKFLOWS = [wf.tell_time]
pytestmark = pytest.mark.beluga(executors=["default", "temporal"])


async def test_sleep_with_a_negative_duration_is_refused_naming_the_call_and_the_seconds(
    workflow_env: Any,
) -> None:
    env_class = type(workflow_env).__name__

    with pytest.raises(InvalidInputError) as refused:
        await workflow_env.sleep(timedelta(seconds=-1))

    assert str(refused.value) == f"{env_class}.sleep: duration must not be negative, got -1s"


async def test_sleep_without_a_duration_is_refused(workflow_env: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"\.sleep: duration must be a timedelta or seconds"):
        await workflow_env.sleep(None)


async def test_starting_a_workflow_the_environment_does_not_run_is_refused_naming_it(
    workflow_env: Any,
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        await workflow_env.executor.execute(wf.not_registered)

    assert "workflow 'not_registered' is not registered with this" in str(refused.value)


def test_a_temporal_env_refuses_a_nested_workflow_function() -> None:
    async def nested(ctx: Any) -> None: ...

    with pytest.raises(InvalidInputError, match="workflow 'nested': Temporal workflows must be module-level"):
        TemporalTestEnv(workflows=[nested])


def test_a_temporal_env_refuses_an_environment_of_the_other_kind(temporal_env: WorkflowEnvironment) -> None:
    with pytest.raises(
        InvalidInputError, match=r"TemporalTestEnv\(time_skipping=True\) was given a real-time"
    ):
        TemporalTestEnv(workflows=[wf.tell_time], environment=temporal_env)


def test_a_temporal_envs_executor_is_there_inside_async_with_only() -> None:
    env = TemporalTestEnv(workflows=[wf.tell_time])

    with pytest.raises(RuntimeError, match="inside `async with TemporalTestEnv"):
        env.executor  # noqa: B018


async def test_a_temporal_env_refuses_a_shared_test_server_whose_clock_is_spent() -> None:
    async with start_test_server() as server:
        await server.sleep(timedelta(days=365 * 7100))  # past LAST_USABLE_YEAR, as ~700 finished runs get it

        with pytest.raises(RuntimeError, match="the shared test server's clock is at 9"):
            async with TemporalTestEnv(workflows=[wf.tell_time], environment=server):
                pass
