"""References to workflow functions by module and qualified name, so the sandbox can import them itself.

The worker must not hand the sandbox the function objects it was given: those run with the host's module
globals, where ``datetime.now()`` and ``open()`` are unrestricted. The dispatcher instead imports the module
inside the workflow run, which puts the user's code under the sandbox's restrictions. That only works for
functions importable by name, so closures, lambdas and nested functions are rejected up front.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

from beluga_core.workflow import function_name

# The sandbox re-imports the script that was run as ``__main__`` under this name (it keeps a stub __main__).
_SANDBOX_MAIN = "__temporal_main__"
_SILENT = workflow.SandboxImportNotificationPolicy.SILENT


@dataclass(frozen=True)
class WorkflowRef:
    """Where a workflow function lives: enough to import it again, inside or outside the sandbox."""

    name: str
    module: str
    qualname: str

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> WorkflowRef:
        """The reference of ``fn``; raises ``TypeError`` with the reason when ``fn`` cannot be one."""
        name = function_name(fn)
        module = getattr(fn, "__module__", None)
        qualname = getattr(fn, "__qualname__", "")
        if not module or "<lambda>" in qualname or "<locals>" in qualname:
            raise TypeError(
                f"workflow {name!r}: Temporal workflows must be module-level functions (the workflow sandbox "
                f"re-imports them by module and name), but {qualname or fn!r} is a lambda, closure or "
                "nested function: move it to the top level of a module"
            )
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"workflow {name!r}: must be an 'async def' function, got {fn!r}")
        ref = cls(name=name, module=module, qualname=qualname)
        try:
            found = ref._lookup(_import(module))
        except (ImportError, AttributeError):
            found = None
        if found is not fn:
            raise TypeError(
                f"workflow {name!r}: {module}.{qualname} does not resolve to the function given (is it "
                "wrapped by a decorator without functools.wraps, or rebound?); register the module-level "
                "function itself"
            )
        return ref

    def load(self) -> Callable[..., Any]:
        """Import the function. Inside the sandbox this re-imports the module under its restrictions."""
        if not workflow.unsafe.in_sandbox():
            return self._lookup(_import(self.module))
        module = _SANDBOX_MAIN if self.module == "__main__" else self.module
        # Importing here, in the run's first activation, is the design (not a stray late import), so the
        # sandbox's "imported after initial workflow load" warning is silenced.
        with workflow.unsafe.sandbox_import_notification_policy(_SILENT):
            return self._lookup(_import(module))

    def _lookup(self, module: Any) -> Callable[..., Any]:
        target = module
        for part in self.qualname.split("."):
            target = getattr(target, part)
        return target  # type: ignore[no-any-return]


def _import(module: str) -> Any:
    # builtins.__import__ is what the sandbox intercepts; importlib would skip its __main__ handling.
    return builtins.__import__(module, fromlist=["__name__"])
