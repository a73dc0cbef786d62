"""The samples' workflows under the testing kit, on both executors: the paths a user would test, with the
waits of hours skipped and the outside world (payments, the model, the reviewer) replaced by fakes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from beluga_core.workflow import (
    InteractionRequest,
    InteractionResponse,
    Signal,
    human_activity,
    llm_activity,
    named,
)
from samples.agent_loop import agent
from samples.human_approval import Expense, expense_approval
from samples.order_approval import Decision, Order, order_approval

BELUGA_WORKFLOWS = [order_approval, expense_approval, agent]
pytestmark = pytest.mark.beluga(executors=["default", "temporal"])

#: Orders wait an hour for approval (the sample's default).
ORDER = Order(id="A-7", items=["kayak"], amount=420)


@named("charge")
async def charge_in_test_mode(order: Order) -> str:
    return f"test charge {order.amount:.2f} for {order.id}"


class AlwaysRejects:
    async def request_interaction(self, request: InteractionRequest) -> InteractionResponse:
        return InteractionResponse(decision="reject", feedback="not in the budget")


ask_strict_reviewer = human_activity(AlwaysRejects(), name="ask_reviewer")
answer_at_once = llm_activity(lambda prompt: "ANSWER I do not know.", name="ask_llm")


async def test_an_order_nobody_approves_within_the_hour_expires_and_releases_its_stock(
    workflow_env: Any,
) -> None:
    handle = await workflow_env.executor.execute(order_approval, input=ORDER)

    outcome = await handle.result(timeout=30)

    assert (outcome.state, outcome.detail) == ("expired", "released reservation-A-7")


@pytest.mark.beluga(activities=[charge_in_test_mode])
async def test_an_order_approved_after_59_minutes_is_charged(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(order_approval, input=ORDER)

    await workflow_env.sleep(timedelta(minutes=59))
    await workflow_env.executor.signal(
        handle.id, Signal(name="approval", payload=Decision(approved=True, by="ana"))
    )

    outcome = await handle.result(timeout=30)
    assert (outcome.state, outcome.detail) == ("charged", "test charge 420.00 for A-7")


@pytest.mark.beluga(activities=[ask_strict_reviewer])
async def test_an_expense_the_reviewer_rejects_is_rejected_by_the_reviewer(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(
        expense_approval, input=Expense(id="E-9", employee="bo", amount=640)
    )

    verdict = await handle.result(timeout=30)

    assert (verdict.approved, verdict.by) == (False, "reviewer")


@pytest.mark.beluga(activities=[answer_at_once])
async def test_an_agent_whose_model_answers_at_once_calls_no_tool(workflow_env: Any) -> None:
    handle = await workflow_env.executor.execute(agent, input="What is the weather on Mars?")

    result = await handle.result(timeout=30)

    assert (result.answer, result.turns, result.transcript) == ("I do not know.", 1, [])
