"""The examples in docs/stores.md run as written, against a real NATS server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.nats import NatsServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "stores.md"
EXAMPLE, CONSTRUCTORS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def run_python(source: str, cwd: Path) -> str:
    script = cwd / "example.py"
    script.write_text(source)
    done = subprocess.run([sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_nats_example_prints_what_it_says(nats_server: NatsServer, tmp_path: Path) -> None:
    source = EXAMPLE.replace("nats://127.0.0.1:4222", nats_server.url)
    assert source != EXAMPLE
    assert run_python(source, tmp_path).splitlines() == ["hello ada", "['greeting/ada']"]


def test_other_store_constructors_are_valid(tmp_path: Path) -> None:
    imports = "from beluga_core.stores import DaprStore, InngestStore, KafkaStore\n"
    run_python(imports + CONSTRUCTORS, tmp_path)
