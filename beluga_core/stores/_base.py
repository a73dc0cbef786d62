"""What every store shares: filtering and ordering, JSON encoding, error wrapping.

The optional store capabilities (``AppendableStore``, ``RunCreatingStore``) are protocols in
:mod:`beluga_core.api`, next to ``WorkflowStore``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta

from pydantic import ValidationError

from ..api._types import WorkflowFilter, WorkflowState
from ..api.errors import InvalidInputError, OwnedElsewhereError, StoreError
from ._secrets import Secrets

#: How long a store keeps an update's reply that nobody took (its sender went away): the next reply posted
#: after that removes it.
KEEP_UNTAKEN_REPLY = timedelta(days=1)


class Described(Exception):
    """An error whose message already says what went wrong: :func:`store_errors` shows it without its type."""


class CredentialsRefused(Described, PermissionError):
    """The server refused the credentials the store connected with (or asked for some and got none)."""


class TlsFailed(Described, ConnectionError):
    """The TLS handshake with the server failed (unknown certificate authority, wrong host name, ...)."""


def newest_first(states: Iterable[WorkflowState]) -> list[WorkflowState]:
    """The stable listing order of every store: newest ``created_at`` first, then by id descending."""
    return sorted(states, key=lambda s: (s.created_at, s.workflow_id), reverse=True)


def apply_filter(states: Iterable[WorkflowState], filter: WorkflowFilter | None) -> list[WorkflowState]:
    """Filter, order newest first and cut to the limit."""
    flt = filter or WorkflowFilter()
    matching = newest_first(s for s in states if flt.matches(s))
    limit = flt.max_results
    return matching if limit is None else matching[:limit]


def require_workflow_id(provider: str, op: str, workflow_id: str) -> None:
    """Reject an empty or non-string workflow id with a prefixed :class:`StoreError`."""
    if not isinstance(workflow_id, str) or not workflow_id:
        raise StoreError(provider, op, f"workflow id must be a non-empty string, got {workflow_id!r}")


def run_not_stored(provider: str, state: WorkflowState) -> StoreError:
    """The error of an append whose run has no stored header: an append never re-creates a run."""
    return StoreError(
        provider,
        "append",
        f"workflow {state.workflow_id!r} run {state.run_id!r} is not stored (deleted, or replaced by another "
        "run); nothing was written",
    )


def check_one_owner(store: object, where: str, bound: str | None, owner: str, shared: str) -> None:
    """``bind_owner``'s rule for a store object that ``bound`` already serves: one executor per object."""
    if bound is not None and bound != owner:
        kind = type(store).__name__
        raise InvalidInputError(
            f"this {kind} object ({where}) already serves executor {bound!r}: give each DefaultExecutor a "
            f"{kind} of its own (on the same {shared}, if they share the workflows)"
        )


def owned_elsewhere(provider: str, op: str, workflow_id: str, owner: str | None) -> OwnedElsewhereError:
    """The error of a write fenced by another executor's lease on the run."""
    return OwnedElsewhereError(
        provider,
        op,
        workflow_id,
        owner,
        f"workflow {workflow_id!r} is owned by executor {owner!r} (this one lost or never held its lease): "
        "nothing was written",
    )


def running_not_deleted(provider: str, workflow_id: str) -> StoreError:
    """The error of a delete refused because the workflow is still running (the embedded stores' rule)."""
    return StoreError(
        provider,
        "delete",
        f"workflow {workflow_id!r} is running; cancel it and let it finish before deleting it",
    )


def encode_state(provider: str, state: WorkflowState) -> bytes:
    """``state`` as UTF-8 JSON bytes."""
    require_workflow_id(provider, "save", state.workflow_id)
    return state.model_dump_json().encode()


def decode_state(provider: str, op: str, raw: bytes | str, key: str) -> WorkflowState:
    """Parse stored JSON back into a :class:`WorkflowState`; a corrupt value is a :class:`StoreError`."""
    try:
        return WorkflowState.model_validate_json(raw)
    except ValidationError as exc:
        raise StoreError(
            provider, op, f"decode {key!r}: stored value is not a workflow state: {exc}"
        ) from exc


@contextlib.asynccontextmanager
async def store_errors(
    provider: str, op: str, what: str = "", secrets: Secrets | None = None
) -> AsyncIterator[None]:
    """Re-raise anything but a :class:`StoreError` as one, prefixed ``<provider>/<op>: ``.

    With ``secrets``, every secret is scrubbed from the message (a :class:`StoreError` raised inside
    included) and the chained cause is a scrubbed copy when its text shows one.
    """
    try:
        yield
    except StoreError as exc:
        if secrets is None or not secrets.holds(str(exc)):
            raise
        raise StoreError(exc.provider, exc.op, secrets.scrub(exc.detail)) from secrets.safe_cause(exc)
    except Exception as exc:
        detail = f"{what}: {exc}" if what else str(exc)
        message = detail if isinstance(exc, Described) else f"{detail} ({type(exc).__name__})".strip()
        if secrets is None:
            raise StoreError(provider, op, message) from exc
        raise StoreError(provider, op, secrets.scrub(message)) from secrets.safe_cause(exc)
