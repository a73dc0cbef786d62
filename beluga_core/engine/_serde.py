"""JSON conversion of workflow and activity values, decoded by the functions' type annotations.

Every value that crosses a durability boundary (workflow input and result, activity input and result,
signal payloads) goes through :func:`to_json` when it is recorded and :func:`from_json` when it is handed
back, so a live run and a replay see values of the same types.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

import pydantic_core
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from ..api.errors import InvalidInputError


def to_json(value: Any, *, what: str) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, numbers, bool, None), exactly as a store keeps it.

    The value goes through JSON text and back, so what the live run sees is what a replay reads (dict keys
    become strings, tuples lists). Raises :class:`InvalidInputError` naming ``what`` (e.g. "input of workflow
    'order'") when it cannot be stored exactly: a type JSON has no form for, a string that is not valid
    Unicode (a lone surrogate), or a NaN or infinite float (JSON has no such numbers).
    """
    if _is_plain_json(value):
        return value  # what the round trip would give back: skip it (activity inputs and results often are)
    try:
        text = pydantic_core.to_json(value, inf_nan_mode="constants")
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{what}: a value of type {type(value).__name__} cannot be serialised to JSON ({exc})"
        ) from exc
    try:
        return pydantic_core.from_json(text, allow_inf_nan=False)
    except ValueError:
        raise InvalidInputError(
            f"{what}: NaN and infinities cannot be stored (JSON has no such numbers); "
            "use None or a string instead"
        ) from None


def _is_plain_json(value: Any) -> bool:
    """True for a value JSON holds as it is: None, a bool, an int, a finite float, an ASCII string."""
    kind = type(value)
    if value is None or kind is int or kind is bool:
        return True
    if kind is float:
        return math.isfinite(value)
    return kind is str and value.isascii()


def check_text(value: Any, *, what: str) -> str:
    """``value`` if it is a non-empty string a store can hold (valid Unicode), else :class:`InvalidInputError`."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{what} must be a non-empty string, got {value!r}")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{what} is not valid Unicode (it holds a lone surrogate): {value!r}"
        ) from None
    return value


@functools.lru_cache(maxsize=1024)
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def from_json(data: Any, hint: Any, *, what: str, cached: bool = True) -> Any:
    """Decode JSON ``data`` into ``hint`` (``Any`` or a missing annotation returns the data unchanged).

    ``cached=False`` does not remember ``hint``: for types that live briefly, such as the classes of a module
    Temporal's sandbox re-imports for every workflow run.
    """
    if hint is Any or hint is inspect.Parameter.empty:
        return data
    if type(data) is hint and (hint is int or hint is str or hint is float or hint is bool):
        return data  # what validating it would return
    try:
        adapter = _adapter(hint) if cached else TypeAdapter(hint)
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise InvalidInputError(f"{what}: expected {_hint_name(hint)}: {exc}") from exc
    except TypeError:
        # Annotations pydantic cannot build a schema for are passed through untouched.
        return data


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


@dataclass(frozen=True)
class Signature:
    """What a workflow or activity function takes and returns, for encoding and decoding its values."""

    takes_input: bool
    input_hint: Any
    return_hint: Any
    is_async: bool


def _read_signature(fn: Callable[..., Any], leading: int) -> Signature:
    params = list(inspect.signature(fn).parameters.values())[leading:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    try:
        hints = get_type_hints(fn)
    except Exception:
        hints = {}
    first = positional[0] if positional else None
    return Signature(
        takes_input=first is not None,
        input_hint=hints.get(first.name, Any) if first is not None else Any,
        return_hint=hints.get("return", Any),
        is_async=is_async(fn),
    )


_signature_of = functools.lru_cache(maxsize=1024)(_read_signature)


def is_async(fn: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and for objects whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


def workflow_signature(fn: Callable[..., Any], *, cached: bool = True) -> Signature:
    """The signature of ``async def wf(ctx, input)`` (the input parameter may be absent).

    ``cached=False`` reads it afresh without remembering ``fn``: for function objects that live briefly (the
    Temporal sandbox re-imports workflow modules for every run), which a cache would keep alive.
    """
    return (_signature_of if cached else _read_signature)(fn, 1)


def activity_signature(fn: Callable[..., Any], *, cached: bool = True) -> Signature:
    """The signature of an activity ``def act(input)`` (sync or async, the input may be absent).

    ``cached`` as for :func:`workflow_signature`.
    """
    return (_signature_of if cached else _read_signature)(fn, 0)
