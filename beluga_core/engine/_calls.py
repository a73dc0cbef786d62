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
from ..api._types import WorkflowOptions
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
from ._serde import Signature, activity_signature, from_json, workflow_signature


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
    fn: WorkflowFunction, options: WorkflowOptions | None, option_kwargs: dict[str, Any]
) -> StartRequest:
    """Check ``execute(fn, options, **option_kwargs)`` and encode its input, before anything is started."""
    opts = resolve_options(options, option_kwargs)
    name = check_workflow_function(fn)
    signature = workflow_signature(fn)
    json_input, args = encode_input(
        opts.input, signature, what=f"input of workflow {name!r}", takes=f"workflow {name!r}"
    )
    check_timeout(name, opts.timeout)
    return StartRequest(name, opts, signature, json_input, args)


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
