"""Workflows and activities defined in the test module itself, on both environments.

pytest rewrites test modules on import; on Temporal the workflow sandbox runs the module again (from its
source, with pytest passed through), so a test module's workflows need no module of their own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from beluga_core.workflow import WorkflowContext, named


async def fetch_rate(currency: str) -> float:
    raise RuntimeError("no exchange to ask in tests")


@named("fetch_rate")
async def fixed_rate(currency: str) -> float:
    return 1.25


async def convert_in_a_month(ctx: WorkflowContext, currency: str) -> str:
    rate = await ctx.execute_activity(fetch_rate, currency)
    await ctx.sleep(timedelta(days=30))
    return f"{currency} at {rate}"


BELUGA_WORKFLOWS = [convert_in_a_month]
BELUGA_ACTIVITIES = [fixed_rate]
pytestmark = pytest.mark.beluga(executors=["default", "temporal"])


async def test_a_workflow_of_the_test_module_runs_with_its_override_and_skipped_month(
    workflow_env: Any,
) -> None:
    handle = await workflow_env.executor.execute(convert_in_a_month, input="CHF")

    assert await handle.result(timeout=30) == "CHF at 1.25"
