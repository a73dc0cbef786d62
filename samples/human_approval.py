"""Human in the loop: small expenses are approved automatically, larger ones go to a reviewer.

    python -m samples.human_approval [--executor default]

The reviewer is reached through ``human_activity`` and a ``HumanInteractionManager``. Here the manager is a
scripted stand-in for a real channel (a chat message, an e-mail with links): it approves up to 1,000 and
rejects above. For waits of hours or days, use a signal instead (see ``samples.order_approval``): a waiting
signal costs nothing, while an activity holds its attempt open.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from beluga_core.workflow import InteractionRequest, InteractionResponse, WorkflowContext, human_activity
from samples._executors import open_executor, parse_args, run_sample

AUTO_APPROVE_UP_TO = 100.0


class ScriptedReviewer:
    """Stands in for a person: answers every request at once by a fixed rule."""

    async def request_interaction(self, request: InteractionRequest) -> InteractionResponse:
        amount = float(request.metadata["amount"])
        decision = "approve" if amount <= 1000 else "reject"
        return InteractionResponse(decision=decision, feedback=f"reviewed {amount:.2f}")


ask_reviewer = human_activity(ScriptedReviewer(), name="ask_reviewer")


class Expense(BaseModel):
    id: str
    employee: str
    amount: float


class Verdict(BaseModel):
    expense_id: str
    approved: bool
    by: str


async def expense_approval(ctx: WorkflowContext, expense: Expense) -> Verdict:
    if expense.amount <= AUTO_APPROVE_UP_TO:
        return Verdict(expense_id=expense.id, approved=True, by="policy")
    request = InteractionRequest(
        prompt=f"Approve {expense.amount:.2f} for {expense.employee}?",
        options=["approve", "reject"],
        metadata={"amount": expense.amount, "expense": expense.id},
    )
    answer = await ctx.execute_activity(ask_reviewer, request, timeout=timedelta(minutes=5))
    return Verdict(expense_id=expense.id, approved=answer.decision == "approve", by="reviewer")


async def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    expenses = [
        Expense(id="E-1", employee="ana", amount=42),
        Expense(id="E-2", employee="bo", amount=640),
        Expense(id="E-3", employee="cy", amount=5200),
    ]
    async with open_executor(
        args, task_queue="expenses", workflows=[expense_approval], activities=[ask_reviewer]
    ) as opened:
        print(f"executor: {args.executor} ({opened.where})")
        handles = [
            await opened.executor.execute(expense_approval, id=f"expense-{e.id}", input=e) for e in expenses
        ]
        for handle in handles:
            verdict = await handle.result(timeout=60)
            print(f"{verdict.expense_id}: {'approved' if verdict.approved else 'rejected'} by {verdict.by}")


if __name__ == "__main__":
    run_sample(main)
