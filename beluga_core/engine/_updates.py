"""The one rule for updates, on every engine: checking a handler, decoding the argument, validating, running.

An update handler is a function the workflow registered with ``ctx.set_update_handler``. It is called with
the update's argument (decoded by its parameter's annotation) when it takes a parameter, else with none; it
may be async. Its validator, when given, is a sync function called the same way before the update is accepted:
if it raises, the update is rejected (:class:`UpdateRejectedError`) and nothing is recorded. A handler that
raises gives :class:`UpdateFailedError`; an unknown name is :class:`UnknownUpdateError` naming the known ones.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..api._protocols import UpdateHandler, UpdateValidator
from ..api._types import ErrorInfo
from ..api.errors import InvalidInputError, UnknownUpdateError, UpdateFailedError, UpdateRejectedError
from ._execution import Decode
from ._serde import Signature, activity_signature, check_text, from_json, is_async, to_json


@dataclass(frozen=True)
class UpdateRegistration:
    """A registered update: its handler, its validator, and the handler's signature."""

    name: str
    handler: UpdateHandler
    validator: UpdateValidator | None
    signature: Signature


def check_update_handler(
    workflow_type: str,
    name: Any,
    handler: Any,
    validator: Any,
    *,
    signature_of: Any = activity_signature,
) -> UpdateRegistration:
    """Reject an update handler (or validator) that could not be registered under ``name``."""
    if not name or not isinstance(name, str):
        raise InvalidInputError(f"workflow {workflow_type!r}: update name must be a non-empty string")
    check_text(name, what=f"workflow {workflow_type!r}: update name")
    if not callable(handler):
        raise InvalidInputError(f"workflow {workflow_type!r}: update handler {name!r} is not callable")
    if validator is not None:
        if not callable(validator):
            raise InvalidInputError(f"workflow {workflow_type!r}: update validator {name!r} is not callable")
        if is_async(validator):
            raise InvalidInputError(
                f"workflow {workflow_type!r}: update validator {name!r} is async; validators must be sync "
                "functions (Temporal runs them synchronously, before the update is accepted)"
            )
    return UpdateRegistration(name, handler, validator, signature_of(handler))


def find_update(
    workflow_id: str, name: str, handlers: Mapping[str, UpdateRegistration]
) -> UpdateRegistration:
    """The registration of update ``name``, else :class:`UnknownUpdateError` naming the known ones."""
    registration = handlers.get(name)
    if registration is None:
        raise UnknownUpdateError(workflow_id, name, list(handlers))
    return registration


def update_args(
    workflow_id: str, registration: UpdateRegistration, json_arg: Any, decode: Decode = from_json
) -> tuple[Any, ...]:
    """The arguments the handler (and validator) is called with; a bad argument rejects the update."""
    if not registration.signature.takes_input:
        return ()
    name = registration.name
    try:
        return (decode(json_arg, registration.signature.input_hint, what=f"argument of update {name!r}"),)
    except Exception as exc:
        raise rejected(workflow_id, name, exc) from exc


def validate_update(workflow_id: str, registration: UpdateRegistration, args: tuple[Any, ...]) -> None:
    """Call the validator, if any: :class:`UpdateRejectedError` when it raises."""
    if registration.validator is None:
        return
    try:
        outcome = registration.validator(*args)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        raise rejected(workflow_id, registration.name, exc) from exc
    if inspect.iscoroutine(outcome):
        outcome.close()


async def run_update_handler(registration: UpdateRegistration, args: tuple[Any, ...]) -> Any:
    """The handler's return value (awaited when it is awaitable)."""
    result = registration.handler(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def encode_update_result(workflow_id: str, name: str, result: Any) -> Any:
    return to_json(result, what=f"result of update {name!r} of workflow {workflow_id!r}")


def rejected(workflow_id: str, name: str, exc: BaseException) -> UpdateRejectedError:
    error = ErrorInfo.from_exception(exc)
    return UpdateRejectedError(workflow_id, name, error.type, error.message)


def failed(workflow_id: str, name: str, exc: BaseException) -> UpdateFailedError:
    if isinstance(exc, UpdateFailedError):
        return exc
    error = ErrorInfo.from_exception(exc)
    return UpdateFailedError(workflow_id, name, error.type, error.message)
