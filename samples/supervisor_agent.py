"""A supervisor agent: one workflow per conversation, sub-agents as child workflows, tool calls approved by a UI.

    python -m samples.supervisor_agent [--executor default]

- Each user message is sent with ``signal_with_start``: the first one starts the conversation's workflow
  (its id is the conversation id), the next ones go to the running workflow.
- The supervisor asks a planner "LLM" what to do with the message and runs each research sub-task as a child
  workflow (``ctx.start_child``), several at once when the plan has several.
- Every ``TURNS_PER_RUN`` turns (or when the engine suggests it) it continues as new, carrying its state as a
  pydantic model, so its history never grows without bound. Messages not received yet go to the new run.
- A tool call with side effects (sending an email) waits for a human: the UI reads the ``pending`` query and
  answers with the ``approve`` update, whose validator rejects an unknown call id; the approved call runs as a
  child workflow (``ctx.execute_child``) and the update returns its result to the UI.

The "LLMs" are deterministic fakes (no network, no keys) standing in for real model clients.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from pydantic import BaseModel, Field

from beluga_core.workflow import (
    DurableExecutor,
    Signal,
    ToolCall,
    UpdateRejectedError,
    WorkflowContext,
    llm_activity,
    tool_activity,
)
from samples._executors import open_executor, parse_args, run_sample

TURNS_PER_RUN = 2


# -- the fake models and the tool: activities ------------------------------------------------------------


def fake_planner(message: str) -> str:
    """A scripted planner 'LLM': a JSON plan of research topics, a tool call, or the end of the conversation."""
    if message.lower().startswith("bye"):
        return json.dumps({"done": True})
    if email := re.search(r"email .* to (\S+@\S+)", message, re.IGNORECASE):
        args = {"to": email[1], "subject": "Your trip"}
        return json.dumps({"tool_call": {"name": "send_email", "args": args}})
    topics = message.removeprefix("Research ").split(" and ")
    return json.dumps({"research": topics})


def fake_researcher(topic: str) -> str:
    return f"3 good options for {topic}"


def execute_tool(name: str, args: dict[str, Any]) -> str:
    if name == "send_email":
        return f"emailed {args['to']} ({args['subject']!r})"
    raise ValueError(f"unknown tool {name!r}")


plan_turn = llm_activity(fake_planner, name="plan_turn")
research = llm_activity(fake_researcher, name="research")
run_tool = tool_activity(execute_tool, name="run_tool")


# -- messages, and the state the supervisor carries from run to run ------------------------------------


class UserMessage(BaseModel):
    text: str


class Plan(BaseModel):
    research: list[str] = Field(default_factory=list)
    tool_call: ToolCall | None = None
    done: bool = False


class Approval(BaseModel):
    call_id: str
    approved: bool
    by: str


class Conversation(BaseModel):
    id: str
    turns: int = 0
    runs: list[str] = Field(default_factory=list)  # the run id of every run so far
    transcript: list[str] = Field(default_factory=list)
    pending: dict[str, ToolCall] = Field(default_factory=dict)  # tool calls awaiting approval, by call id


# -- the workflows --------------------------------------------------------------------------------------


async def researcher(ctx: WorkflowContext, topic: str) -> str:
    """A sub-agent: a workflow of its own, with its own id, history and status."""
    findings: str = await ctx.execute_activity(research, topic)
    return findings


async def tool_runner(ctx: WorkflowContext, call: ToolCall) -> str:
    """Runs one approved tool call."""
    done: str = await ctx.execute_activity(run_tool, call)
    return done


async def supervisor(ctx: WorkflowContext, state: Conversation) -> Conversation:
    state.runs.append(ctx.run_id)
    approving: set[str] = set()  # approvals being carried out: no continue-as-new in the middle of one
    ctx.set_query_handler("pending", lambda: sorted(state.pending))

    def is_pending(approval: Approval) -> None:  # the validator: raising rejects the update, nothing recorded
        if approval.call_id not in state.pending:
            raise ValueError(f"no tool call {approval.call_id!r} is waiting for approval")

    async def approve(approval: Approval) -> str:
        call = state.pending.pop(approval.call_id)
        if not approval.approved:
            outcome = f"{call.name} declined by {approval.by}"
        else:
            approving.add(approval.call_id)
            try:  # the tool call is a child workflow too, with an id of our choosing
                child_id = f"{ctx.workflow_id}/{approval.call_id}"
                done = await ctx.execute_child(tool_runner, call, id=child_id)
            finally:
                approving.discard(approval.call_id)
            outcome = f"{call.name} approved by {approval.by}, {child_id} {done}"
        state.transcript.append(f"{approval.call_id}: {outcome}")
        return outcome  # the update's result: the UI's answer

    ctx.set_update_handler("approve", approve, validator=is_pending)

    messages = ctx.receive_signal("user", UserMessage)
    while True:
        message = await messages.receive()
        state.turns += 1
        plan = Plan.model_validate_json(await ctx.execute_activity(plan_turn, message.text))
        if plan.done:
            state.transcript.append(f"turn {state.turns}: goodbye")
            return state
        if plan.tool_call is not None:
            call_id = f"call-{state.turns}"
            state.pending[call_id] = plan.tool_call
            state.transcript.append(f"turn {state.turns}: {plan.tool_call.name} awaits approval as {call_id}")
        # Each research topic is a sub-agent of its own, a child workflow; they run at the same time.
        children = [await ctx.start_child(researcher, topic) for topic in plan.research]
        findings = await asyncio.gather(*(child.result() for child in children))
        for child, finding in zip(children, findings, strict=True):
            state.transcript.append(f"turn {state.turns}: {child.id} found {finding}")
        if (state.turns % TURNS_PER_RUN == 0 or ctx.continue_as_new_suggested) and not approving:
            ctx.continue_as_new(state)  # the next run starts with this state and an empty history


# -- the client side: a chat UI -------------------------------------------------------------------------


async def say(executor: DurableExecutor, conversation_id: str, text: str) -> bool:
    """Send a user message to the conversation's workflow, starting it first if needed; True if it started."""
    handle = await executor.signal_with_start(
        supervisor,
        Signal(name="user", payload=UserMessage(text=text)),
        id=conversation_id,
        input=Conversation(id=conversation_id),
    )
    return bool(getattr(handle, "started", False))


async def pending_calls(executor: DurableExecutor, conversation_id: str) -> list[str]:
    """Poll the ``pending`` query until a tool call awaits approval."""
    for _ in range(200):
        pending = await executor.query(conversation_id, "pending")
        if pending:
            return list(pending)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{conversation_id}: no tool call came up for approval")


async def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    async with open_executor(
        args,
        task_queue="supervisor",
        workflows=[supervisor, researcher, tool_runner],
        activities=[plan_turn, research, run_tool],
    ) as opened:
        executor, conversation = opened.executor, "conversation-1"
        print(f"executor: {args.executor} ({opened.where})")
        # Three messages back to back: the run continues as new after turn 2, and the messages it has not
        # received by then go to the new run.
        for text in [
            "Research flights to Lima",
            "Research hotels in Lima and food in Lima",
            "Please email the plan to ada@example.com",
        ]:
            started = await say(executor, conversation, text)
            print(f"user: {text!r} ({'started the workflow' if started else 'sent to the running workflow'})")

        pending = await pending_calls(executor, conversation)
        print(f"awaiting approval: {pending}")
        try:
            await executor.update(conversation, "approve", Approval(call_id="call-9", approved=True, by="ui"))
        except UpdateRejectedError as exc:
            print(f"approve call-9: rejected ({exc.cause_message})")
        answer = await executor.update(
            conversation, "approve", Approval(call_id=pending[0], approved=True, by="ada"), result_type=str
        )
        print(f"approve {pending[0]}: {answer}")

        await say(executor, conversation, "Bye")
        final: Conversation = await (await executor.get_handle(conversation)).result(timeout=60)
        for line in final.transcript:
            print(f"  {line}")
        print("run ids: " + " -> ".join(run_id[:8] for run_id in final.runs))
        print(f"{final.turns} turns in {len(final.runs)} runs")


if __name__ == "__main__":
    run_sample(main)
