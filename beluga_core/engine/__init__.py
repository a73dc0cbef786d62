"""The engine-neutral core both executors build on: the DefaultExecutor and the Temporal adapter.

Internal API: these names are for executors (``beluga_core.executor``, ``beluga_temporal``), not for workflow
code, and may change between minor versions. Everything a user calls is in :mod:`beluga_core.workflow`.

- Children: :func:`prepare_child` (a :class:`ChildCall`, with :func:`default_child_id`), and
  :class:`ChildHandleBase`, which an engine's child handle subclasses.
- Starting a workflow: :func:`prepare_start` (a :class:`StartRequest`), :func:`prepare_signal_with_start`;
  a signal: :func:`encode_signal`; built on :func:`resolve_options`, :func:`check_workflow_function`, :func:`check_timeout`,
  :func:`duplicate_name`.
- The front half of a workflow call, the same on every engine: :class:`WorkflowContextBase`, which an
  engine's context subclasses, implementing only its steps; :func:`prepare_activity` (an
  :class:`ActivityCall`), :class:`SignalChannel` over an engine's receive step, :func:`answer_query` (the one
  query rule); and the checks under them: :func:`check_activity_options`,
  :func:`sleep_seconds`, :func:`receive_timeout_seconds`, :func:`check_signal_name`,
  :func:`check_query_handler`, :func:`duration_seconds`, :func:`check_retry`.
- Values at the durability boundary, converted once: :func:`to_json` / :func:`from_json`, :func:`encode_input`,
  :func:`encode_result`, :func:`decode_result`, :func:`result_hint`, :func:`check_text`, and the
  :class:`Signature` of workflow and activity functions.
- Outcomes: :class:`RunHandleBase` (what every handle has), :func:`wait_for_result`, :func:`workflow_failure`, :data:`BUILTIN_QUERIES`.
- Hooks: :func:`fire_hook`, :data:`HOOK_NAMES`. Retries: :data:`ALWAYS_NON_RETRYABLE`.
"""

from ..api._hooks import HOOK_NAMES, fire_hook
from ..api._retry import ALWAYS_NON_RETRYABLE
from ._calls import (
    ActivityCall,
    StartRequest,
    encode_signal,
    prepare_activity,
    prepare_signal_with_start,
    prepare_start,
)
from ._children import ChildCall, ChildHandleBase, default_child_id, prepare_child
from ._context import WorkflowContextBase
from ._execution import (
    BUILTIN_QUERIES,
    Decode,
    check_activity_options,
    check_query_handler,
    check_retry,
    check_signal_name,
    check_timeout,
    check_workflow_function,
    decode_result,
    duplicate_name,
    duration_seconds,
    encode_input,
    encode_result,
    receive_timeout_seconds,
    resolve_options,
    result_hint,
    sleep_seconds,
    wait_for_result,
    workflow_failure,
)
from ._handles import RunHandleBase
from ._queries import answer_query
from ._serde import (
    Signature,
    activity_signature,
    check_text,
    from_json,
    is_async,
    to_json,
    workflow_signature,
)
from ._signals import SignalChannel, no_signal
from ._updates import (
    UpdateRegistration,
    check_update_handler,
    encode_update_result,
    find_update,
    run_update_handler,
    update_args,
    validate_update,
)

__all__ = [
    "WorkflowContextBase",
    "ChildCall",
    "ChildHandleBase",
    "default_child_id",
    "prepare_child",
    "RunHandleBase",
    "ActivityCall",
    "SignalChannel",
    "StartRequest",
    "answer_query",
    "no_signal",
    "encode_signal",
    "prepare_activity",
    "prepare_signal_with_start",
    "prepare_start",
    "ALWAYS_NON_RETRYABLE",
    "BUILTIN_QUERIES",
    "HOOK_NAMES",
    "Decode",
    "Signature",
    "activity_signature",
    "check_activity_options",
    "check_query_handler",
    "check_retry",
    "check_signal_name",
    "check_text",
    "check_timeout",
    "check_workflow_function",
    "decode_result",
    "duplicate_name",
    "duration_seconds",
    "encode_input",
    "encode_result",
    "fire_hook",
    "from_json",
    "is_async",
    "receive_timeout_seconds",
    "resolve_options",
    "result_hint",
    "sleep_seconds",
    "to_json",
    "wait_for_result",
    "workflow_failure",
    "workflow_signature",
    "UpdateRegistration",
    "check_update_handler",
    "encode_update_result",
    "find_update",
    "run_update_handler",
    "update_args",
    "validate_update",
]
