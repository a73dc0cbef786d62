"""Ready-made activities for agent workflows: an LLM call, a tool call, a human interaction.

Each helper returns a named async activity function that checks its input and works on every executor.
Assign the result at module level, under the name you give it::

    ask_llm = llm_activity(call_model, name="ask_llm")

    async def agent(ctx: WorkflowContext, question: str) -> str:
        return await ctx.execute_activity(ask_llm, question)

Temporal registers activities by name and workers import them from their module, so an activity made inside
a function (a closure nobody can import) cannot be registered there. The returned function's ``__module__``
is the module that called the helper and its ``__name__``/``__qualname__`` is ``name``, so
``module.<name>`` finds it when it is assigned as above.

Sync callables (``invoke``, ``execute``, a manager's ``request_interaction``) run in a worker thread, so a
blocking model or tool client does not stall the event loop; async ones are awaited.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field, ValidationError

from ..api._naming import named
from ..api.errors import InvalidInputError

M = TypeVar("M", bound=BaseModel)
A = TypeVar("A", bound=Callable[..., Awaitable[Any]])


class ToolCall(BaseModel):
    """The input of a :func:`tool_activity`: which tool to run, with which arguments."""

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class InteractionRequest(BaseModel):
    """What a :func:`human_activity` asks a person.

    ``id`` correlates the request with its response; when empty, the activity sets a new one. ``options``
    lists the expected answers (e.g. ``["approve", "reject"]``), empty for free text.
    """

    id: str = ""
    prompt: str = Field(min_length=1)
    options: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class InteractionResponse(BaseModel):
    """A person's answer to an :class:`InteractionRequest`.

    ``decision`` is the chosen option (e.g. ``"approve"``), ``feedback`` free text. ``request_id`` is the
    request's id (the activity fills it in when the manager leaves it empty).
    """

    request_id: str = ""
    decision: str = ""
    feedback: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


_Response = InteractionResponse | Mapping[str, Any]


@runtime_checkable
class HumanInteractionManager(Protocol):
    """Routes an :class:`InteractionRequest` to a person and returns their :class:`InteractionResponse`.

    ``request_interaction`` may be ``async def`` or a plain method, and may return a response model or a dict
    with the same fields.
    """

    def request_interaction(self, request: InteractionRequest) -> _Response | Awaitable[_Response]: ...


def llm_activity(
    invoke: Callable[[str], str | Awaitable[str]], *, name: str = "llm"
) -> Callable[[str], Awaitable[str]]:
    """An activity that sends a prompt to ``invoke`` (sync or async) and returns the model's text.

    The activity raises :class:`InvalidInputError` when its input is not a ``str`` or when ``invoke``
    returns something other than a ``str``.
    """
    where = _where("llm_activity", name, "llm")
    _require_callable(invoke, where, "invoke")

    async def activity(prompt: str) -> str:
        if not isinstance(prompt, str):
            raise InvalidInputError(f"{where}: expected a str prompt, got {type(prompt).__name__}")
        text = await _call(invoke, prompt)
        if not isinstance(text, str):
            raise InvalidInputError(f"{where}: invoke returned {type(text).__name__}, expected str")
        return text

    return _finish(activity, name, _caller_module())


def tool_activity(
    execute: Callable[[str, dict[str, Any]], Any], *, name: str = "tool"
) -> Callable[[ToolCall | dict[str, Any]], Awaitable[Any]]:
    """An activity that runs ``execute(tool_name, args)`` (sync or async) and returns its result.

    Its input is a :class:`ToolCall` or a dict ``{"name": str, "args": dict}`` (``args`` optional). The
    activity raises :class:`InvalidInputError` for any other input type, a missing or empty ``name``, or
    ``args`` that is not a dict. The result must be JSON-serialisable (or a pydantic model).
    """
    where = _where("tool_activity", name, "tool")
    _require_callable(execute, where, "execute")

    async def activity(call: ToolCall | dict[str, Any]) -> Any:
        tool = _coerce(ToolCall, call, where)
        return await _call(execute, tool.name, tool.args)

    return _finish(activity, name, _caller_module())


def human_activity(
    manager: HumanInteractionManager, *, name: str = "human"
) -> Callable[[InteractionRequest | dict[str, Any]], Awaitable[InteractionResponse]]:
    """An activity that asks a person through ``manager.request_interaction`` and returns the answer.

    Its input is an :class:`InteractionRequest` or a dict with the same fields. The activity raises
    :class:`InvalidInputError` for any other input type, an invalid request, or a response that is not an
    :class:`InteractionResponse` (or a dict of one).

    The activity holds its attempt open until the manager answers, so its ``timeout`` must cover the wait.
    For waits of hours or days, prefer a signal (``ctx.receive_signal``), which costs nothing while waiting.
    """
    where = _where("human_activity", name, "human")
    _require_callable(getattr(manager, "request_interaction", None), where, "manager.request_interaction")

    async def activity(request: InteractionRequest | dict[str, Any]) -> InteractionResponse:
        asked = _coerce(InteractionRequest, request, where)
        if not asked.id:
            asked = asked.model_copy(update={"id": uuid.uuid4().hex})
        reply = await _call(manager.request_interaction, asked)
        answer = _coerce(InteractionResponse, reply, f"{where} response")
        return answer if answer.request_id else answer.model_copy(update={"request_id": asked.id})

    return _finish(activity, name, _caller_module())


def _where(helper: str, name: str, default: str) -> str:
    """How error messages name the activity: the helper, and the name when it is not the default."""
    return helper if name == default else f"{helper}({name!r})"


def _require_callable(fn: object, where: str, what: str) -> None:
    if not callable(fn):
        raise InvalidInputError(f"{where}: {what} must be callable, got {type(fn).__name__}")


def _caller_module() -> str:
    """The module that called the public helper (two frames up)."""
    return str(sys._getframe(2).f_globals.get("__name__", __name__))


def _finish(activity: A, name: str, module: str) -> A:
    named(name)(activity)  # validates the name before it becomes the function's
    activity.__name__ = activity.__qualname__ = name
    activity.__module__ = module
    return activity


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``: awaited when async, run in a worker thread when sync."""
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):  # a sync callable that returned a coroutine, e.g. a lambda
        result = await result
    return result


def _coerce(model: type[M], value: object, where: str) -> M:
    """``value`` as a ``model``: the instance itself, or a dict validated into one."""
    if isinstance(value, model):
        return value
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{where}: expected {model.__name__} or dict, got {type(value).__name__}")
    try:
        return model.model_validate(dict(value))
    except ValidationError as exc:
        raise InvalidInputError(f"{where}: invalid {model.__name__}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    """A validation error in one line, e.g. ``missing 'name'; 'args': Input should be a valid dict``."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        problems.append(f"missing {field!r}" if error["type"] == "missing" else f"{field!r}: {error['msg']}")
    return "; ".join(problems)
