"""Activity overrides: an activity given to a test environment stands in for the one of its name."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from beluga_core.testing import DefaultTestEnv
from beluga_core.workflow import InvalidInputError, named
from beluga_temporal.testing import TemporalTestEnv

from . import pricing
from . import workflows as wf

BELUGA_WORKFLOWS = [wf.price_then_wait, wf.priced_by_module, wf.priced_by_helper]
pytestmark = pytest.mark.beluga(executors=["default", "temporal"])


@named("list_price")
async def discounted_price(sku: str) -> float:
    return 80.0


@named("no_such_activity")
async def stray(sku: str) -> float:
    return 0.0


@pytest.mark.beluga(activities=[wf.fake_price])
async def test_an_override_runs_where_the_workflow_calls_the_activity_of_its_name(workflow_env: Any) -> None:
    calls_before = wf.CALLS["fetch_price"]

    handle = await workflow_env.executor.execute(wf.price_then_wait, input="kayak")

    assert await handle.result(timeout=30) == "expired at 9.5"
    assert wf.CALLS["fetch_price"] == calls_before  # the real activity never ran


@pytest.mark.beluga(activities=[discounted_price])
async def test_an_activity_called_through_its_module_can_be_overridden(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.priced_by_module, input="kayak")

    assert await handle.result(timeout=30) == 80.0


@pytest.mark.beluga(activities=[discounted_price])
async def test_an_activity_called_by_a_helper_of_another_module_can_be_overridden(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.priced_by_helper, input="kayak")

    assert await handle.result(timeout=30) == 80.0


async def test_activities_not_overridden_are_the_real_ones(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.priced_by_module, input="kayak")

    assert await handle.result(timeout=30) == 100.0


@pytest.mark.beluga(activities=[pricing.list_price])
async def test_giving_the_real_activity_changes_nothing(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(wf.priced_by_module, input="kayak")

    assert await handle.result(timeout=30) == 100.0


def test_default_env_refuses_an_override_no_workflow_calls_naming_it_and_what_they_call() -> None:
    with pytest.raises(InvalidInputError) as refused:
        DefaultTestEnv(workflows=BELUGA_WORKFLOWS, activities=[stray])

    message = str(refused.value)
    assert message.startswith(
        "DefaultTestEnv: no registered workflow calls an activity named 'no_such_activity'"
    )
    assert "fetch_price" in message and "list_price" in message


def test_temporal_env_refuses_an_override_no_workflow_calls_naming_it() -> None:
    with pytest.raises(
        InvalidInputError,
        match="TemporalTestEnv: no registered workflow calls an activity named 'no_such_activity'",
    ):
        TemporalTestEnv(workflows=BELUGA_WORKFLOWS, activities=[stray])


def test_two_overrides_of_one_name_are_refused() -> None:
    @named("fetch_price")
    async def another(sku: str) -> float:
        return 1.0

    with pytest.raises(InvalidInputError, match="two activities are named 'fetch_price'"):
        DefaultTestEnv(workflows=BELUGA_WORKFLOWS, activities=[wf.fake_price, another])


async def test_temporal_env_on_a_shared_server_runs_the_override(
    beluga_temporal_test_server: WorkflowEnvironment,
) -> None:
    async with TemporalTestEnv(
        workflows=[wf.priced_by_module],
        activities=[discounted_price],
        environment=beluga_temporal_test_server,
    ) as env:
        handle = await env.executor.execute(wf.priced_by_module, input="kayak")

        assert await handle.result(timeout=30) == 80.0
