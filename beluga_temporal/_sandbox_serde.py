"""Signatures and JSON decoding in workflow code, cached only where that is safe.

Each run's sandbox has its own copy of the workflow module, so its functions and classes are new objects in
every run. Caching signatures or pydantic adapters by those objects would keep every run's copy of the
module alive, and would miss anyway. Building them afresh is slow in the sandbox (its ``isinstance`` and
builtins are wrapped), so what is the same in every run is cached: annotations made only of builtin types
(``int``, ``list[str]``, ``dict[str, Any] | None``, ...), and signatures of functions whose code object is
shared by every run (the workflow module's code is compiled once per worker, see ``_functions``) when their
annotations are of that kind.
"""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict
from collections.abc import Callable
from types import CodeType, NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

from beluga_core.engine import Signature, activity_signature, from_json, workflow_signature

_MAX_SIGNATURES = 1024
_signatures: OrderedDict[tuple[CodeType, bool], Signature] = OrderedDict()
_lock = threading.Lock()  # workflow tasks run on several threads


def decode(data: Any, hint: Any, *, what: str) -> Any:
    """:func:`from_json`, with the shared adapter cache used only for run-independent annotations."""
    return from_json(data, hint, what=what, cached=run_independent(hint))


def sandbox_workflow_signature(fn: Callable[..., Any]) -> Signature:
    return _signature(fn, workflow=True)


def sandbox_activity_signature(fn: Callable[..., Any]) -> Signature:
    return _signature(fn, workflow=False)


def _signature(fn: Callable[..., Any], *, workflow: bool) -> Signature:
    code = getattr(fn, "__code__", None)
    key = (code, workflow) if isinstance(code, CodeType) else None
    with _lock:
        cached = _signatures.get(key) if key is not None else None
        if cached is not None:
            _signatures.move_to_end(key)  # type: ignore[arg-type]
            return cached
    read = workflow_signature if workflow else activity_signature
    signature = read(fn, cached=False)
    if key is not None and run_independent(signature.input_hint) and run_independent(signature.return_hint):
        with _lock:
            _signatures[key] = signature
            if len(_signatures) > _MAX_SIGNATURES:
                _signatures.popitem(last=False)
    return signature


def run_independent(hint: Any) -> bool:
    """True when ``hint`` is the same object in every run: built from builtin types and typing constructs."""
    if hint is Any or hint is None or hint is NoneType or hint is Ellipsis:
        return True
    origin = get_origin(hint)
    if origin is Literal:
        return all(type(value).__module__ == "builtins" for value in get_args(hint))
    if origin is not None:
        generic = origin in (Union, UnionType) or run_independent(origin)
        return generic and all(run_independent(arg) for arg in get_args(hint))
    return type(hint) is type and getattr(builtins, hint.__name__, None) is hint
