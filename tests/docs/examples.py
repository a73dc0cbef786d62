"""Running the documentation's examples as a reader would: each script in its own interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run_python(source: str, cwd: Path, *, timeout: float = 60) -> str:
    """What ``source``, saved as ``example.py`` in ``cwd`` and run there, prints; it must exit 0."""
    script = cwd / "example.py"
    script.write_text(source)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_in(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python *args`` in ``cwd``, which is on its import path (before this interpreter's own)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), *sys.path])}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_printed_in_order(output: str, expected: list[str]) -> None:
    """Each of ``expected`` starts a line of ``output``, in this order (other lines may come between)."""
    lines = iter(output.splitlines())
    for wanted in expected:
        assert any(line.startswith(wanted) for line in lines), f"{wanted!r} not printed in order:\n{output}"


def each_example(sources: list[str], expected: list[list[str]], kind: str) -> Any:
    """``pytest.mark.parametrize`` over (``source``, ``expected``) pairs, ids ``<kind>-<n>``; one expected
    output per example, else the module fails to collect, saying so."""
    assert len(sources) == len(expected), f"{len(sources)} {kind}s, but {len(expected)} expected outputs"
    return pytest.mark.parametrize(
        ("source", "expected"),
        list(zip(sources, expected, strict=True)),
        ids=[f"{kind}-{i}" for i in range(len(sources))],
    )
