"""Which activities a test environment knows of, and which of its ``activities=`` replace them.

Workflow code calls activities by function (``ctx.execute_activity(fetch_price, sku)``); both executors
identify the activity by its Beluga name. So an environment can know the activities its workflows call
without running them: the functions their code refers to. They are found in each workflow's code (and the
code nested in it), resolved in its module's globals and closure: names it uses, attributes of the modules and
classes it uses (``tools.fetch_price``), functions held in the dicts, lists, tuples and sets it uses, and,
recursively, the same in the plain functions it calls from its own module and the project's other modules
(those not installed under ``site-packages``). Functions of the standard library and of the infrastructure
(``beluga_core``, ``temporalio``, ``pydantic``) are not activities.

The rule for ``activities=``: each entry must bear the name of one of these (else
:class:`~beluga_core.workflow.errors.InvalidInputError` naming it and listing the known names). An entry that
is not the very function the workflows refer to is an *override*: it runs wherever the workflows call that
name. An activity reached only through something built at run time is not found; refer to it from the
workflow's module.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..api.errors import InvalidInputError
from ..engine import check_workflow_function, duplicate_name
from ..workflow import ActivityFunction, WorkflowFunction, function_name

_INFRASTRUCTURE = frozenset({"beluga_core", "beluga_temporal", "temporalio", "pydantic", "pydantic_core"})
_CONTAINERS = (dict, list, tuple, set, frozenset)
#: How deep helper functions of a workflow's module are followed.
_HELPER_DEPTH = 4


@dataclass(frozen=True)
class EnvironmentActivities:
    """The activities a test environment knows of and the overrides among its ``activities=``."""

    #: Every activity the workflows refer to, by name, with the overrides in place: what a worker registers.
    by_name: dict[str, ActivityFunction]
    #: The entries of ``activities=`` that replace the function the workflows refer to, by name.
    overrides: dict[str, ActivityFunction]


def environment_activities(
    env: str, workflows: Iterable[WorkflowFunction], activities: Iterable[ActivityFunction]
) -> EnvironmentActivities:
    """Check ``activities=`` of environment ``env`` (its class name) against what ``workflows`` call."""
    known = referenced_activities(workflows)
    given: dict[str, ActivityFunction] = {}
    for fn in activities:
        if not callable(fn):
            raise InvalidInputError(f"{env}: activities must be functions, got {type(fn).__name__}: {fn!r}")
        name = function_name(fn)
        if name in given and given[name] is not fn:
            raise duplicate_name("activity", name)
        given[name] = fn
    unknown = sorted(set(given) - set(known))
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        calls = ", ".join(sorted(known)) or "none"
        raise InvalidInputError(
            f"{env}: no registered workflow calls an activity named {names}, so there is nothing for "
            f"{'it' if len(unknown) == 1 else 'them'} to replace (the workflows call: {calls}). An activity "
            "given here replaces the one of the same Beluga name (its function name, or @named('...'))"
        )
    overrides = {name: fn for name, fn in given.items() if known[name] is not fn}
    by_name = {name: fn for name, fn in known.items() if fn is not None}
    by_name.update(given)
    return EnvironmentActivities(by_name, overrides)


def referenced_activities(workflows: Iterable[WorkflowFunction]) -> dict[str, ActivityFunction | None]:
    """The functions ``workflows`` refer to, by Beluga name (None for a name two different functions bear)."""
    workflow_list = list(workflows)
    for fn in workflow_list:
        check_workflow_function(fn)
    excluded = {id(fn) for fn in workflow_list}
    found: dict[str, ActivityFunction | None] = {}
    seen: set[int] = set()
    for fn in workflow_list:
        for candidate in _referenced(fn, getattr(fn, "__module__", None), seen, _HELPER_DEPTH):
            if id(candidate) in excluded:
                continue
            name = _name_of(candidate)
            if name is None:
                continue
            if name in found and found[name] is not candidate:
                found[name] = None  # ambiguous: only an explicit activity of this name can stand for it
            else:
                found[name] = candidate
    return found


def _referenced(fn: Callable[..., Any], home: str | None, seen: set[int], depth: int) -> Iterable[Any]:
    """The activity candidates ``fn``'s code refers to; plain functions of module ``home`` are followed."""
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType) or id(fn) in seen:
        return
    seen.add(id(fn))
    names = _names(code)
    scope: Mapping[str, Any] = getattr(fn, "__globals__", {})
    values = [scope[name] for name in names if name in scope]
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    for value in values:
        if isinstance(value, (types.ModuleType, type)):
            members = (getattr(value, name, None) for name in names)
            values_of = [m for m in members if m is not None]
        elif isinstance(value, _CONTAINERS):
            values_of = list(value.values() if isinstance(value, dict) else value)
        else:
            values_of = [value]
        for candidate in values_of:
            if not _is_candidate(candidate):
                continue
            yield candidate
            if depth > 0 and isinstance(candidate, types.FunctionType) and _followed(candidate, home):
                yield from _referenced(candidate, home, seen, depth - 1)


def _followed(fn: types.FunctionType, home: str | None) -> bool:
    """True for a helper whose code is searched too: one of the workflow's module, or of the project (a module
    not installed as a package: not under ``site-packages``)."""
    if fn.__module__ == home:
        return True
    path = getattr(sys.modules.get(fn.__module__), "__file__", None) or ""
    return bool(path) and "site-packages" not in path and "dist-packages" not in path


def _names(code: types.CodeType) -> set[str]:
    """The global and attribute names ``code`` and the code nested in it use."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _is_candidate(value: Any) -> bool:
    if isinstance(value, type) or inspect.isbuiltin(value) or not callable(value):
        return False
    module = getattr(value, "__module__", None)
    if not isinstance(module, str):
        return False
    top = module.partition(".")[0]
    return top not in _INFRASTRUCTURE and top not in sys.stdlib_module_names


def _name_of(fn: Any) -> str | None:
    try:
        return function_name(fn)
    except InvalidInputError:
        return None
