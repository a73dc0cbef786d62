"""The package layout is the architecture: each layer imports only the layers below it, so nothing cycles.

``api`` (types, protocols, errors) <- ``engine`` (the engine-neutral core) <- ``stores`` <- ``executor`` <-
``workflow`` (the public facade) <- ``testing`` (the testing kit); the operator tools sit on top: ``ui`` (the web
UI, over ``api`` only) <- ``cli`` (which imports ``beluga_temporal`` only for ``--temporal``).
``beluga_temporal`` uses the public packages and the documented internal API ``beluga_core.engine``, never a
private module of ``beluga_core``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What each package of beluga_core may import from beluga_core (besides itself).
ALLOWED = {
    "api": set(),
    "engine": {"api"},
    "stores": {"api", "engine"},
    "executor": {"api", "engine", "stores"},
    "workflow": {"api", "engine", "stores", "executor"},
    "testing": {"api", "engine", "stores", "executor", "workflow"},
    # the operator tools: the web UI reads states and talks to an executor it is given; the CLI opens them
    # (and replays with the testing kit)
    "ui": {"api"},
    "cli": {"api", "stores", "executor", "workflow", "testing", "ui"},
}

#: The beluga_core modules beluga_temporal may import from.
PUBLIC_FOR_TEMPORAL = {
    "beluga_core.workflow",
    "beluga_core.engine",
    "beluga_core.stores",
    "beluga_core.executor",
    "beluga_core.testing",
}


def imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved against ``package``)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "beluga_core" else None


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_of_beluga_core_imports_only_the_layers_below_it(layer: str) -> None:
    wrong = []
    for path in sorted((ROOT / "beluga_core" / layer).glob("*.py")):
        for module in imported_modules(path, f"beluga_core.{layer}"):
            other = layer_of(module)
            if other is not None and other != layer and other not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_beluga_temporal_imports_only_public_or_internal_api_modules_of_beluga_core() -> None:
    wrong = []
    for path in sorted((ROOT / "beluga_temporal").rglob("*.py")):
        package = ".".join(path.relative_to(ROOT).parent.parts)
        for module in imported_modules(path, package):
            if module.startswith("beluga_core") and module not in PUBLIC_FOR_TEMPORAL:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []
