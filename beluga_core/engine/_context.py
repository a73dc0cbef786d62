"""The part of the :class:`~beluga_core.workflow.WorkflowContext` that is the same on every engine.

Every call is checked and its values converted here, then handed to the engine's step: an engine subclasses
:class:`WorkflowContextBase` and implements :meth:`~WorkflowContextBase._run_activity`,
:meth:`~WorkflowContextBase._sleep`, :meth:`~WorkflowContextBase._receive`, :meth:`~WorkflowContextBase._patched`,
:meth:`~WorkflowContextBase._deprecate_patch`, :meth:`~WorkflowContextBase._start_child` and the identity
properties.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

from ..api._protocols import (
    ActivityFunction,
    ChildWorkflowHandle,
    QueryHandler,
    UpdateHandler,
    UpdateValidator,
    WorkflowFunction,
)
from ..api._retry import RetryPolicy
from ..api._types import ParentClosePolicy
from ._calls import ActivityCall, prepare_activity
from ._children import ChildCall, prepare_child
from ._execution import Decode, check_patch_id, check_query_handler, encode_input, sleep_seconds
from ._serde import Signature, activity_signature, from_json, to_json, workflow_signature
from ._signals import SignalChannel
from ._updates import UpdateRegistration, check_update_handler

#: The history length past which ``continue_as_new_suggested`` is True (where the engine has no own rule).
CONTINUE_AS_NEW_SUGGESTED_AT = 10_000


class WorkflowContextBase(ABC):
    """The front half of every workflow call; subclasses implement the engine's half."""

    def __init__(self) -> None:
        self._query_handlers: dict[str, QueryHandler] = {}
        self._update_handlers: dict[str, UpdateRegistration] = {}
        #: How many children this run has started (or tried to): numbers the default child ids.
        self._children_started = 0

    @property
    @abstractmethod
    def workflow_id(self) -> str: ...

    @property
    @abstractmethod
    def run_id(self) -> str: ...

    @property
    @abstractmethod
    def workflow_type(self) -> str: ...

    # -- calls ---------------------------------------------------------------------------------------------

    async def execute_activity(
        self,
        fn: ActivityFunction,
        input: Any = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: timedelta | None = None,
        total_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
    ) -> Any:
        call = prepare_activity(
            self.workflow_type,
            fn,
            input,
            retry,
            timeout,
            total_timeout,
            heartbeat_timeout,
            signature_of=self._activity_signature,
            decode=self._decode,
        )
        return await self._run_activity(fn, call)

    async def start_child(
        self,
        fn: WorkflowFunction,
        input: Any = None,
        *,
        id: str | None = None,
        timeout: timedelta | None = None,
        parent_close: ParentClosePolicy = "cancel",
    ) -> ChildWorkflowHandle:
        """Start ``fn(input)`` as a child workflow: see ``WorkflowContext.start_child``."""
        self._children_started += 1
        call = prepare_child(
            self.workflow_id,
            self.run_id,
            self._children_started,
            fn,
            input,
            id,
            timeout,
            parent_close,
            signature_of=self._workflow_signature_of,
            decode=self._decode,
        )
        return await self._start_child(call)

    async def execute_child(
        self,
        fn: WorkflowFunction,
        input: Any = None,
        *,
        id: str | None = None,
        timeout: timedelta | None = None,
        parent_close: ParentClosePolicy = "cancel",
    ) -> Any:
        """Start a child workflow and return its result: see ``WorkflowContext.execute_child``."""
        handle = await self.start_child(fn, input, id=id, timeout=timeout, parent_close=parent_close)
        return await handle.result()

    async def sleep(self, duration: timedelta | float) -> None:
        await self._sleep(sleep_seconds(self.workflow_type, duration))

    def receive_signal(self, name: str, payload_type: Any = None) -> SignalChannel:
        return SignalChannel(self.workflow_type, name, self._receive, payload_type, self._decode)

    def set_query_handler(self, name: str, handler: QueryHandler) -> None:
        check_query_handler(self.workflow_type, name, handler)
        self._query_handlers[name] = handler

    def set_update_handler(
        self, name: str, handler: UpdateHandler, *, validator: UpdateValidator | None = None
    ) -> None:
        """Handle update ``name`` with ``handler`` (and ``validator``): see ``WorkflowContext``."""
        self._update_handlers[name] = check_update_handler(
            self.workflow_type, name, handler, validator, signature_of=self._activity_signature
        )

    @property
    def update_handlers(self) -> dict[str, UpdateRegistration]:
        """The update handlers the workflow registered, by update name."""
        return self._update_handlers

    def patched(self, patch_id: str) -> bool:
        """True where the run takes the code added by patch ``patch_id``: see ``WorkflowContext.patched``."""
        return self._patched(check_patch_id(self.workflow_type, patch_id))

    def deprecate_patch(self, patch_id: str) -> None:
        """Mark patch ``patch_id`` as deprecated: see ``WorkflowContext.deprecate_patch``."""
        self._deprecate_patch(check_patch_id(self.workflow_type, patch_id))

    def continue_as_new(self, input: Any = None) -> NoReturn:
        """End the run and start a fresh one with ``input``: see ``WorkflowContext.continue_as_new``."""
        what = f"continue_as_new of workflow {self.workflow_type!r}: input"
        signature = self.workflow_signature
        if signature is None:
            data = to_json(input, what=what)
        else:
            data, _ = encode_input(
                input, signature, what=what, takes=f"workflow {self.workflow_type!r}", decode=self._decode
            )
        self._continue_as_new(data)

    @property
    def continue_as_new_suggested(self) -> bool:
        """True past the engine's history threshold: see ``WorkflowContext.continue_as_new_suggested``."""
        return self.history_length >= CONTINUE_AS_NEW_SUGGESTED_AT

    @property
    def history_length(self) -> int:
        """Events in this run's history so far: see ``WorkflowContext.history_length``."""
        raise NotImplementedError

    @property
    def query_handlers(self) -> dict[str, QueryHandler]:
        """The handlers the workflow registered, by query name."""
        return self._query_handlers

    # -- the engine's half ---------------------------------------------------------------------------------

    #: How the engine reads an activity's signature and decodes values (Temporal's sandbox does not cache).
    _activity_signature: Callable[[Callable[..., Any]], Signature] = staticmethod(activity_signature)
    _workflow_signature_of: Callable[[Callable[..., Any]], Signature] = staticmethod(workflow_signature)
    _decode: Decode = staticmethod(from_json)
    #: The workflow function's signature, set by the engine: ``continue_as_new`` checks its input against it.
    workflow_signature: Signature | None = None

    def _continue_as_new(self, json_input: Any) -> NoReturn:
        """End the run with a new one of ``json_input`` (the checked input as JSON): raises, never returns."""
        raise NotImplementedError

    @abstractmethod
    async def _run_activity(self, fn: ActivityFunction, call: ActivityCall) -> Any:
        """Run the checked activity call durably; its result decoded by the activity's return annotation."""

    @abstractmethod
    async def _start_child(self, call: ChildCall) -> ChildWorkflowHandle:
        """Start the checked child call durably; its handle once the child is started."""

    @abstractmethod
    async def _sleep(self, seconds: float) -> None:
        """A durable timer of ``seconds`` (zero or more)."""

    @abstractmethod
    async def _receive(self, name: str, seconds: float | None) -> Any:
        """The oldest buffered ``name`` payload, waited for durably; ``TimeoutError`` after ``seconds``."""

    @abstractmethod
    def _patched(self, patch_id: str) -> bool:
        """Whether the run takes the patched code: True live (recorded in the history), else as recorded."""

    @abstractmethod
    def _deprecate_patch(self, patch_id: str) -> None:
        """The engine's deprecation of ``patch_id``: histories with or without its record replay alike."""
