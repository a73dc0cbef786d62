"""What the stores backed by a server share: lazy connection, closing, ``async with``, checked decoding."""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from typing_extensions import Self

from ..api._types import WorkflowState
from ..api.errors import StoreError
from ._base import decode_state, require_workflow_id, store_errors
from ._secrets import Secrets, scrub_library_logs


def require_key_id(provider: str, op: str, workflow_id: str) -> None:
    """Reject an id that cannot become a key: empty, not a string, or not encodable as UTF-8."""
    require_workflow_id(provider, op, workflow_id)
    try:
        workflow_id.encode()
    except UnicodeEncodeError as exc:
        raise StoreError(provider, op, f"workflow id {workflow_id!r} is not valid Unicode: {exc}") from exc


def decode_stored_state(provider: str, op: str, raw: bytes | str, workflow_id: str) -> WorkflowState:
    """Decode a value read under ``workflow_id``; a corrupt value, or another workflow's, is an error."""
    state = decode_state(provider, op, raw, workflow_id)
    if state.workflow_id != workflow_id:
        raise StoreError(
            provider, op, f"decode {workflow_id!r}: stored value belongs to workflow {state.workflow_id!r}"
        )
    return state


class RemoteStore:
    """Base of the stores that talk to a server.

    The connection is opened on first use, or up front with :meth:`connect` (``async with store`` does that
    too). After :meth:`close` every operation raises :class:`StoreError`. Subclasses implement
    :meth:`_open` and :meth:`_shutdown`, and may ask for a new connection with :meth:`_connection_lost`.

    Secrets: a subclass adds its secret strings to ``self._secrets`` (and calls :meth:`_guard_secrets`); every
    error raised through :meth:`_errors` or :meth:`_error` is scrubbed of them, and so are the log records of
    the client libraries named in ``library_loggers``.
    """

    provider: ClassVar[str]
    library_loggers: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._secrets = Secrets()
        self._connected = False
        self._closed = False
        self._connect_lock = asyncio.Lock()

    async def connect(self) -> None:
        """Open the connection now instead of on first use. Raises :class:`StoreError` when it fails."""
        await self._ready("connect")

    async def close(self) -> None:
        """Release the connection (one the caller passed in stays open). Further calls raise."""
        if self._closed:
            return
        self._closed = True
        async with self._connect_lock:
            was_connected, self._connected = self._connected, False
            if was_connected:
                async with self._errors("close"):
                    await self._shutdown()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _ready(self, op: str) -> None:
        """Raise when closed; connect (or reconnect after a lost connection) when needed."""
        if self._closed:
            raise StoreError(self.provider, op, "store is closed")
        if self._connected and not self._connection_lost():
            return
        async with self._connect_lock:
            if self._closed:
                raise StoreError(self.provider, op, "store is closed")
            async with self._errors(op, "" if op == "connect" else "connect"):
                if self._connected and self._connection_lost():
                    self._connected = False
                    await self._shutdown()
                if not self._connected:
                    await self._open()
                    self._connected = True

    def _errors(self, op: str, what: str = "") -> contextlib.AbstractAsyncContextManager[None]:
        """:func:`store_errors` for this store, scrubbing its secrets."""
        return store_errors(self.provider, op, what, self._secrets)

    def _error(self, op: str, detail: str) -> StoreError:
        """A :class:`StoreError` of this store, its secrets scrubbed from ``detail``."""
        return StoreError(self.provider, op, self._secrets.scrub(detail))

    def _guard_secrets(self) -> None:
        """Scrub this store's secrets from the client libraries' log records (call once they are known)."""
        scrub_library_logs(self._secrets, self.library_loggers)

    async def _open(self) -> None:
        """Connect to the server and set up what the store needs (bucket, topic, client)."""
        raise NotImplementedError

    async def _shutdown(self) -> None:
        """Release what :meth:`_open` acquired. Must not raise for a connection that is already gone."""
        raise NotImplementedError

    def _connection_lost(self) -> bool:
        """True when the connection is gone for good and :meth:`_ready` should open a new one."""
        return False
