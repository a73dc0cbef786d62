"""Names of workflows and activities: a function's ``__name__`` unless :func:`named` gives it another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import InvalidInputError

F = TypeVar("F", bound=Callable[..., Any])

_NAME_ATTR = "__beluga_name__"


def named(name: str) -> Callable[[F], F]:
    """Give a workflow or activity function an explicit name (its Temporal workflow/activity type).

    >>> @named("ProcessOrder")
    ... async def process_order(ctx, order_id: str) -> str: ...
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"named(): name must be a non-empty string, got {name!r}")

    def decorate(fn: F) -> F:
        setattr(fn, _NAME_ATTR, name)
        return fn

    return decorate


def function_name(fn: Callable[..., Any]) -> str:
    """The Beluga name of a workflow or activity function."""
    explicit = getattr(fn, _NAME_ATTR, None)
    if explicit:
        return str(explicit)
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or not name or name == "<lambda>":
        raise InvalidInputError(
            f"cannot name {fn!r}: give it a name with @named('...') or use a def function"
        )
    return str(name)
