"""The front half of every workflow call, the same on every engine: a start, an activity call.

Each executor calls these first and implements only its engine step after them (the DefaultExecutor's
journal and replay, Temporal's commands). Values are checked and converted to JSON here, once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..api._naming import function_name
from ..api._protocols import WorkflowFunction
from ..api._retry import RetryPolicy
from ..api._types import Signal, WorkflowOptions
from ..api.errors import InvalidInputError
from ._execution import (
    ActivityTimeouts,
    Decode,
    check_activity_options,
    check_timeout,
    check_workflow_function,
    encode_input,
    resolve_options,
)
from ._serde import Signature, activity_signature, check_text, from_json, to_json, workflow_signature


@dataclass(frozen=True)
class StartRequest:
    """A workflow start, checked: its name, options (with an id), input as JSON and as the function's arguments."""

    name: str
    options: WorkflowOptions
    signature: Signature
    json_input: Any
    args: tuple[Any, ...]

    @property
    def workflow_id(self) -> str:
        return self.options.id

    @property
    def timeout(self) -> timedelta | None:
        return self.options.timeout


def prepare_start(
    fn: WorkflowFunction,
    options: WorkflowOptions | None,
    option_kwargs: dict[str, Any],
    *,
    checked_name: str | None = None,
) -> StartRequest:
    """Check ``execute(fn, options, **option_kwargs)`` and encode its input, before anything is started.

    ``checked_name``: ``fn``'s workflow name when the caller has checked ``fn`` already (a function it
    registered), so it is not checked again at every start.
    """
    opts = resolve_options(options, option_kwargs)
    name = checked_name or check_workflow_function(fn)
    signature = workflow_signature(fn)
    if opts.input is None and not signature.takes_input:
        json_input, args = None, ()  # what encode_input gives, without its messages made for nothing
    else:
        json_input, args = encode_input(
            opts.input, signature, what=f"input of workflow {name!r}", takes=f"workflow {name!r}"
        )
    check_timeout(name, opts.timeout)
    return StartRequest(name, opts, signature, json_input, args)


def encode_signal(workflow_id: str, signal: Signal) -> Any:
    """Check ``signal(workflow_id, signal)``: the id, the signal and its name; returns its payload as JSON."""
    if not isinstance(signal, Signal):
        raise InvalidInputError(
            f"signal to workflow {workflow_id!r}: expected a Signal, got {type(signal).__name__}"
        )
    check_text(workflow_id, what="signal: workflow id")
    check_text(signal.name, what=f"signal to workflow {workflow_id!r}: signal name")
    return to_json(signal.payload, what=f"payload of signal {signal.name!r} to workflow {workflow_id!r}")


def prepare_signal_with_start(
    fn: WorkflowFunction, signal: Signal, options: WorkflowOptions | None, option_kwargs: dict[str, Any]
) -> tuple[StartRequest, Any]:
    """Check ``signal_with_start(fn, signal, options, **option_kwargs)``: the start (which needs an id: none is
    generated) and the signal; returns the start and the signal's payload as JSON.
    """
    given_id = option_kwargs.get("id") if options is None else getattr(options, "id", "?")
    if not given_id:  # (options of the wrong type are prepare_start's to refuse)
        raise InvalidInputError(
            "signal_with_start: the options need a workflow id (the run to signal, or to start): "
            "pass id=... or WorkflowOptions(id=...)"
        )
    start = prepare_start(fn, options, option_kwargs)
    return start, encode_signal(start.workflow_id, signal)


@dataclass
class ActivityCall:
    """An ``execute_activity`` call, checked: the activity's name and options, and its input.

    The input is encoded (to JSON, and decoded into the activity's input annotation) when an engine first asks
    for it: a replay that returns a recorded outcome never needs it.
    """

    workflow_type: str
    name: str
    signature: Signature
    policy: RetryPolicy
    timeouts: ActivityTimeouts  # seconds: timeout, total_timeout, heartbeat_timeout
    input: Any
    decode: Decode

    @functools.cached_property
    def _encoded(self) -> tuple[Any, tuple[Any, ...]]:
        return encode_input(
            self.input,
            self.signature,
            what=f"input of activity {self.name!r} in workflow {self.workflow_type!r}",
            takes=f"activity {self.name!r}",
            decode=self.decode,
        )

    @property
    def json_input(self) -> Any:
        """The input as JSON, as the history records it."""
        return self._encoded[0]

    @property
    def args(self) -> tuple[Any, ...]:
        """The arguments the activity is called with (decoded by its input annotation)."""
        return self._encoded[1]


def prepare_activity(
    workflow_type: str,
    fn: Any,
    input: Any,
    retry: Any,
    timeout: Any,
    total_timeout: Any,
    heartbeat_timeout: Any,
    *,
    signature_of: Callable[[Callable[..., Any]], Signature] = activity_signature,
    decode: Decode = from_json,
) -> ActivityCall:
    """Check ``ctx.execute_activity(fn, input, ...)`` of workflow ``workflow_type``.

    ``signature_of`` and ``decode`` are the engine's (Temporal's sandbox reads signatures without caching).
    """
    if not callable(fn):
        raise InvalidInputError(
            f"workflow {workflow_type!r}: execute_activity needs a function, got {type(fn).__name__}"
        )
    name = function_name(fn)
    policy, timeouts = check_activity_options(
        workflow_type, name, retry, timeout, total_timeout, heartbeat_timeout
    )
    return ActivityCall(workflow_type, name, signature_of(fn), policy, timeouts, input, decode)
