"""References to workflow functions by module and qualified name, so the sandbox can import them itself.

The worker must not hand the sandbox the function objects it was given: those run with the host's module
globals, where ``datetime.now()`` and ``open()`` are unrestricted. The dispatcher instead imports the module
inside the workflow run, which puts the user's code under the sandbox's restrictions. That only works for
functions importable by name, so closures, lambdas and nested functions are rejected up front.
"""

from __future__ import annotations

import builtins
import functools
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from temporalio import workflow

from beluga_core.engine import check_workflow_function
from beluga_core.workflow import InvalidInputError

# The sandbox re-imports the script that was run as ``__main__`` under this name (it keeps a stub __main__).
_SANDBOX_MAIN = "__temporal_main__"
_SILENT = workflow.SandboxImportNotificationPolicy.SILENT


@dataclass(frozen=True)
class WorkflowRef:
    """Where a workflow function lives: enough to import it again, inside or outside the sandbox.

    ``spec`` and ``code`` are the module's import spec and compiled body, read once on the host: each run
    executes that code in a fresh module of its own sandbox, as an import would, without going back to the
    file system (which, from many workflow threads at once, is what made per-run imports slow).
    """

    name: str
    module: str
    qualname: str
    spec: ModuleSpec | None = field(default=None, compare=False, repr=False)
    code: CodeType | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> WorkflowRef:
        """The reference of ``fn``; raises :class:`InvalidInputError` with the reason when ``fn`` cannot be one."""
        name = check_workflow_function(fn)
        module = getattr(fn, "__module__", None)
        qualname = getattr(fn, "__qualname__", "")
        if not module or "<lambda>" in qualname or "<locals>" in qualname:
            raise InvalidInputError(
                f"workflow {name!r}: Temporal workflows must be module-level functions (the workflow sandbox "
                f"re-imports them by module and name), but {qualname or fn!r} is a lambda, closure or "
                "nested function: move it to the top level of a module"
            )
        ref = cls(name=name, module=module, qualname=qualname)
        try:
            host_module = _import(module)
            found = ref._lookup(host_module)
        except (ImportError, AttributeError):
            found = None
        if found is not fn:
            raise InvalidInputError(
                f"workflow {name!r}: {module}.{qualname} does not resolve to the function given (is it "
                "wrapped by a decorator without functools.wraps, or rebound?); register the module-level "
                "function itself"
            )
        spec, code = _compiled(host_module)
        return cls(name=name, module=module, qualname=qualname, spec=spec, code=code)

    def load(self) -> Callable[..., Any]:
        """Import the function. Inside the sandbox this re-imports the module under its restrictions."""
        if not workflow.unsafe.in_sandbox():
            return self._lookup(_import(self.module))
        # Importing here, in the run's first activation, is the design (not a stray late import), so the
        # sandbox's "imported after initial workflow load" warning is silenced.
        with workflow.unsafe.sandbox_import_notification_policy(_SILENT):
            return self._lookup(self._sandbox_module())

    def _sandbox_module(self) -> ModuleType:
        """This run's copy of the module: the cached code run in a new module, as the import system would."""
        if self.spec is None or self.code is None:
            return _import(_SANDBOX_MAIN if self.module == "__main__" else self.module)
        modules = sys.modules  # inside the sandbox: this run's own module table
        existing: ModuleType | None = modules.get(self.module)
        if existing is not None:
            return existing
        module = importlib.util.module_from_spec(self.spec)
        modules[self.module] = module
        try:
            exec(self.code, module.__dict__)
        except BaseException:
            del modules[self.module]
            raise
        return module

    def _lookup(self, module: Any) -> Callable[..., Any]:
        target = module
        for part in self.qualname.split("."):
            target = getattr(target, part)
        return target  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=256)
def _compiled(module: ModuleType) -> tuple[ModuleSpec | None, CodeType | None]:
    """The import spec and compiled code of ``module``, when its loader can give them (not for ``__main__``).

    Once per module object: its workflows share one compilation (a module of 30 workflows was compiled 30
    times per worker, a tenth of a second).
    """
    spec = getattr(module, "__spec__", None)
    if spec is None or module.__name__ == "__main__":
        return None, None
    get_code = getattr(spec.loader, "get_code", None)
    if get_code is not None:
        code = get_code(module.__name__)
    elif isinstance(spec.origin, str) and spec.origin.endswith(".py"):
        # A loader that only executes modules (pytest's, which rewrites asserts in test modules): the source.
        code = compile(Path(spec.origin).read_bytes(), spec.origin, "exec", dont_inherit=True)
    else:
        return None, None
    return (spec, code) if isinstance(code, CodeType) else (None, None)


def _import(module: str) -> ModuleType:
    # builtins.__import__ is what the sandbox intercepts; importlib would skip its __main__ handling.
    imported: ModuleType = builtins.__import__(module, fromlist=["__name__"])
    return imported
