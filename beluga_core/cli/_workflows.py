"""``--workflows MODULE[:ATTR]``: the workflow functions the operator tools need the code of.

``MODULE`` is imported (the current directory is on the import path, as with ``python -m``); ``ATTR`` names
a list (or tuple) of workflow functions, or one function, in it; without ``ATTR`` the module's ``WORKFLOWS``
list is taken.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Sequence

from ..api._protocols import WorkflowFunction
from ._errors import OperatorError


def load_workflows(spec: str) -> list[WorkflowFunction]:
    """The workflow functions ``spec`` (``MODULE[:ATTR]``) names; :class:`OperatorError` when it names none."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise OperatorError(f"--workflows {spec!r}: expected MODULE[:ATTR] (e.g. myapp.workflows:WORKFLOWS)")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise OperatorError(f"--workflows {spec!r}: cannot import {module_name!r}: {exc}") from exc
    name = attr or "WORKFLOWS"
    if not hasattr(module, name):
        hint = "" if attr else " (give MODULE:ATTR to name the list)"
        raise OperatorError(f"--workflows {spec!r}: module {module_name!r} has no {name}{hint}")
    found = getattr(module, name)
    functions: Sequence[object] = [found] if callable(found) else found
    if not isinstance(functions, (list, tuple)) or not functions:
        raise OperatorError(f"--workflows {spec!r}: {name} is not a non-empty list of workflow functions")
    for fn in functions:
        if not inspect.iscoroutinefunction(fn):
            raise OperatorError(f"--workflows {spec!r}: {fn!r} in {name} is not an async workflow function")
    return list(functions)
