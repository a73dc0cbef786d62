"""The README's runnable example runs and prints what it says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def programming_model_example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## The programming model", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python example in the programming model section"
    return match.group(1)


def test_programming_model_example_runs(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(programming_model_example())
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    status, result = done.stdout.splitlines()
    assert status in ("running", "completed")
    assert result == "processed ORD-1 for 42.00"


def test_quickstart_block_has_exactly_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Quickstart\n\n```bash\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "samples.quickstart" in commands[0]
    assert "pytest" in commands[1]
