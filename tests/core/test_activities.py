"""Activity helpers: llm_activity, tool_activity, human_activity, direct and on the DefaultExecutor."""

from __future__ import annotations

import threading
from typing import Any, get_type_hints

import pytest

from beluga_core.executor import DefaultExecutor
from beluga_core.workflow import (
    ActivityError,
    EventType,
    HumanInteractionManager,
    InteractionRequest,
    InteractionResponse,
    InvalidInputError,
    RetryPolicy,
    ToolCall,
    WorkflowContext,
    WorkflowFailedError,
    function_name,
    human_activity,
    llm_activity,
    tool_activity,
)


def shout(prompt: str) -> str:
    return prompt.upper()


async def echo_model(prompt: str) -> str:
    return f"echo: {prompt}"


async def run_tool(name: str, args: dict[str, Any]) -> Any:
    return {"tool": name, "args": args}


class ApprovingManager:
    """An async manager that approves everything it is asked."""

    def __init__(self) -> None:
        self.requests: list[InteractionRequest] = []

    async def request_interaction(self, request: InteractionRequest) -> InteractionResponse:
        self.requests.append(request)
        return InteractionResponse(request_id=request.id, decision="approve", feedback="fine")


class DictManager:
    """A sync manager that answers with a plain dict and no request id."""

    def request_interaction(self, request: InteractionRequest) -> dict[str, Any]:
        return {"decision": request.options[0]}


ask_llm = llm_activity(echo_model, name="ask_llm")


# naming


def test_helpers_name_their_activities_by_default() -> None:
    assert function_name(llm_activity(shout)) == "llm"
    assert function_name(tool_activity(run_tool)) == "tool"
    assert function_name(human_activity(ApprovingManager())) == "human"


def test_name_argument_names_the_activity() -> None:
    assert function_name(ask_llm) == "ask_llm"
    assert function_name(tool_activity(run_tool, name="search")) == "search"
    assert function_name(human_activity(ApprovingManager(), name="approval")) == "approval"


def test_activity_assigned_at_module_level_is_importable_by_its_name() -> None:
    assert (ask_llm.__module__, ask_llm.__qualname__, ask_llm.__name__) == (__name__, "ask_llm", "ask_llm")
    module = __import__(ask_llm.__module__, fromlist=["_"])
    assert getattr(module, ask_llm.__qualname__) is ask_llm


@pytest.mark.parametrize("name", ["", "  "])
def test_empty_activity_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        llm_activity(shout, name=name)


def test_activity_annotations_are_concrete_types() -> None:
    assert get_type_hints(llm_activity(shout)) == {"prompt": str, "return": str}
    assert get_type_hints(tool_activity(run_tool)) == {"call": ToolCall | dict[str, Any], "return": Any}
    assert get_type_hints(human_activity(ApprovingManager())) == {
        "request": InteractionRequest | dict[str, Any],
        "return": InteractionResponse,
    }


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda: llm_activity(None), "llm_activity: invoke must be callable, got NoneType"),  # type: ignore[arg-type]
        (lambda: tool_activity("x"), "tool_activity: execute must be callable, got str"),  # type: ignore[arg-type]
        (
            lambda: human_activity(object()),  # type: ignore[arg-type]
            "human_activity: manager.request_interaction must be callable, got NoneType",
        ),
    ],
)
def test_helpers_reject_what_they_cannot_call(make: Any, what: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        make()
    assert str(caught.value) == what


# llm_activity


async def test_llm_activity_returns_a_sync_invoke_result() -> None:
    assert await llm_activity(shout)("hi") == "HI"


async def test_llm_activity_awaits_an_async_invoke() -> None:
    assert await ask_llm("hi") == "echo: hi"


async def test_llm_activity_runs_a_sync_invoke_in_a_worker_thread() -> None:
    threads: list[int] = []
    activity = llm_activity(lambda prompt: threads.append(threading.get_ident()) or prompt)
    await activity("hi")
    assert threads and threads[0] != threading.get_ident()


async def test_llm_activity_awaits_a_coroutine_returned_by_a_sync_callable() -> None:
    activity = llm_activity(lambda prompt: echo_model(prompt))
    assert await activity("hi") == "echo: hi"


async def test_llm_activity_rejects_a_non_str_prompt_naming_the_type() -> None:
    with pytest.raises(InvalidInputError) as caught:
        await llm_activity(shout)(42)  # type: ignore[arg-type]
    assert str(caught.value) == "llm_activity: expected a str prompt, got int"


async def test_llm_activity_errors_name_a_custom_activity() -> None:
    with pytest.raises(InvalidInputError) as caught:
        await ask_llm({"prompt": "hi"})  # type: ignore[arg-type]
    assert str(caught.value) == "llm_activity('ask_llm'): expected a str prompt, got dict"


async def test_llm_activity_rejects_a_non_str_model_answer() -> None:
    activity = llm_activity(lambda prompt: {"text": prompt})  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidInputError, match="invoke returned dict, expected str"):
        await activity("hi")


async def test_llm_activity_lets_invoke_errors_through() -> None:
    def overloaded(prompt: str) -> str:
        raise ConnectionError("model overloaded")

    with pytest.raises(ConnectionError, match="model overloaded"):
        await llm_activity(overloaded)("hi")


# tool_activity


async def test_tool_activity_runs_a_dict_call() -> None:
    activity = tool_activity(run_tool)
    assert await activity({"name": "search", "args": {"q": "x"}}) == {"tool": "search", "args": {"q": "x"}}


async def test_tool_activity_runs_a_tool_call_model() -> None:
    activity = tool_activity(run_tool)
    assert await activity(ToolCall(name="search", args={"q": "x"})) == {"tool": "search", "args": {"q": "x"}}


async def test_tool_activity_args_default_to_an_empty_dict() -> None:
    assert await tool_activity(run_tool)({"name": "now"}) == {"tool": "now", "args": {}}


async def test_tool_activity_runs_a_sync_execute() -> None:
    activity = tool_activity(lambda name, args: f"{name}({args['n']})")
    assert await activity({"name": "square", "args": {"n": 3}}) == "square(3)"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("search", "tool_activity: expected ToolCall or dict, got str"),
        (["search"], "tool_activity: expected ToolCall or dict, got list"),
        ({"args": {}}, "tool_activity: invalid ToolCall: missing 'name'"),
        ({"name": ""}, "tool_activity: invalid ToolCall: 'name': String should have at least 1 character"),
        ({"name": 7}, "tool_activity: invalid ToolCall: 'name': Input should be a valid string"),
        (
            {"name": "x", "args": [1]},
            "tool_activity: invalid ToolCall: 'args': Input should be a valid dictionary",
        ),
    ],
)
async def test_tool_activity_rejects_bad_input(call: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await tool_activity(run_tool)(call)
    assert str(caught.value) == message


# human_activity


async def test_human_activity_asks_the_manager_and_returns_its_answer() -> None:
    manager = ApprovingManager()
    request = InteractionRequest(id="req-1", prompt="Ship it?", options=["approve", "reject"])
    answer = await human_activity(manager)(request)
    assert answer == InteractionResponse(request_id="req-1", decision="approve", feedback="fine")
    assert manager.requests == [request]


async def test_human_activity_validates_a_dict_request() -> None:
    manager = ApprovingManager()
    await human_activity(manager)({"id": "req-1", "prompt": "Ship it?", "metadata": {"order": 7}})
    assert manager.requests == [InteractionRequest(id="req-1", prompt="Ship it?", metadata={"order": 7})]


async def test_human_activity_gives_a_request_without_id_a_new_one() -> None:
    manager = ApprovingManager()
    answer = await human_activity(manager)({"prompt": "Ship it?"})
    assert manager.requests[0].id
    assert answer.request_id == manager.requests[0].id


async def test_human_activity_accepts_a_sync_manager_answering_with_a_dict() -> None:
    answer = await human_activity(DictManager())({"id": "req-1", "prompt": "Pick", "options": ["b", "a"]})
    assert answer == InteractionResponse(request_id="req-1", decision="b")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ("Ship it?", "human_activity: expected InteractionRequest or dict, got str"),
        ({"id": "req-1"}, "human_activity: invalid InteractionRequest: missing 'prompt'"),
        (
            {"prompt": "Pick", "options": "ab"},
            "human_activity: invalid InteractionRequest: 'options': Input should be a valid list",
        ),
    ],
)
async def test_human_activity_rejects_bad_requests(request_: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await human_activity(ApprovingManager())(request_)
    assert str(caught.value) == message


async def test_human_activity_rejects_an_answer_that_is_not_a_response() -> None:
    class Mumbling:
        def request_interaction(self, request: InteractionRequest) -> Any:
            return "yes?"

    with pytest.raises(InvalidInputError) as caught:
        await human_activity(Mumbling(), name="approval")({"prompt": "Ship it?"})
    assert str(caught.value) == (
        "human_activity('approval') response: expected InteractionResponse or dict, got str"
    )


def test_managers_match_the_protocol_whether_sync_or_async() -> None:
    assert isinstance(ApprovingManager(), HumanInteractionManager)
    assert isinstance(DictManager(), HumanInteractionManager)
    assert not isinstance(object(), HumanInteractionManager)


# on the DefaultExecutor

search = tool_activity(run_tool, name="search")
approval = human_activity(ApprovingManager(), name="approval")


async def agent(ctx: WorkflowContext, question: str) -> dict[str, Any]:
    """Asks the model, runs a tool with a dict call and one with a ToolCall, then asks a person."""
    answer = await ctx.execute_activity(ask_llm, question)
    found = await ctx.execute_activity(search, {"name": "web", "args": {"q": answer}})
    again = await ctx.execute_activity(search, ToolCall(name="docs", args={"q": question}))
    verdict = await ctx.execute_activity(approval, InteractionRequest(id="req-1", prompt=answer))
    assert isinstance(verdict, InteractionResponse)
    return {"answer": answer, "found": found, "again": again, "decision": verdict.decision}


async def call_tool(ctx: WorkflowContext, call: Any) -> Any:
    return await ctx.execute_activity(search, call, retry=RetryPolicy.no_retries())


async def prompt_llm(ctx: WorkflowContext, prompt: Any) -> str:
    result: str = await ctx.execute_activity(ask_llm, prompt)
    return result


@pytest.fixture
async def executor() -> Any:
    async with DefaultExecutor(workflows=[agent, prompt_llm]) as executor:
        yield executor


async def test_helpers_run_as_activities_on_the_default_executor(executor: DefaultExecutor) -> None:
    handle = await executor.execute(agent, id="agent-1", input="why?")
    assert await handle.result(timeout=5) == {
        "answer": "echo: why?",
        "found": {"tool": "web", "args": {"q": "echo: why?"}},
        "again": {"tool": "docs", "args": {"q": "why?"}},
        "decision": "approve",
    }
    state = await executor.store.load("agent-1")
    assert state is not None
    completed = [e.activity_name for e in state.history if e.type is EventType.ACTIVITY_COMPLETED]
    assert completed == ["ask_llm", "search", "search", "approval"]


async def test_bad_tool_call_fails_the_activity_with_invalid_input(executor: DefaultExecutor) -> None:
    async def catching(ctx: WorkflowContext) -> str:
        try:
            await call_tool(ctx, {"args": {}})
        except ActivityError as exc:
            return f"{exc.cause_type}: {exc.cause_message}"
        return "no error"

    executor.register(catching)
    handle = await executor.execute(catching, id="tool-1")
    assert (
        await handle.result(timeout=5)
        == "InvalidInputError: tool_activity('search'): invalid ToolCall: missing 'name'"
    )


async def test_non_str_prompt_is_rejected_on_the_default_executor(executor: DefaultExecutor) -> None:
    handle = await executor.execute(prompt_llm, id="llm-1", input=42)
    with pytest.raises(WorkflowFailedError) as caught:
        await handle.result(timeout=5)
    assert caught.value.cause_type == "InvalidInputError"
    message = caught.value.cause_message
    assert message.startswith("input of activity 'ask_llm' in workflow 'prompt_llm': expected str")
    assert "input_type=int" in message
