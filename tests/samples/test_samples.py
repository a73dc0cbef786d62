"""Every sample runs end to end, on both executors, as a user would run it (``python -m samples.<name>``).

On Temporal the samples connect to the session's dev server through ``TEMPORAL_ADDRESS``; the quickstart is
also run with no address set, so that it starts the bundled dev server itself, as in the README.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

REPO = Path(__file__).resolve().parents[2]

EXPECTED = {
    "quickstart": ["result: BONJOUR, BELUGA!", "status: completed"],
    "order_approval": [
        "order-approved: status=running progress=awaiting approval",
        "order-approved: charged (charged 420.00 for A-1)",
        "order-expiring: expired (released reservation-A-2)",
    ],
    "agent_loop": [
        'tool: weather {"city": "paris"} -> 18',
        'tool: calculator {"expression": "18 * 9 / 5 + 32"} -> 64.4',
        "answer after 3 turns: It is 64.4 degrees Fahrenheit there.",
    ],
    "supervisor_agent": [
        "user: 'Research flights to Lima' (started the workflow)",
        "user: 'Please email the plan to ada@example.com' (sent to the running workflow)",
        "awaiting approval: ['call-3']",
        "approve call-9: rejected (no tool call 'call-9' is waiting for approval)",
        "approve call-3: send_email approved by ada, conversation-1/call-3 emailed ada@example.com ('Your trip')",
        "found 3 good options for flights to Lima",
        "found 3 good options for food in Lima",
        "turn 4: goodbye",
        "4 turns in 2 runs",
    ],
    "human_approval": ["E-1: approved by policy", "E-2: approved by reviewer", "E-3: rejected by reviewer"],
}


def start_sample(
    name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m samples.<name> *args`` run to its end, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", f"samples.{name}", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_sample(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = start_sample(name, *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_lines(output: str, expected: list[str]) -> None:
    lines = [line.strip() for line in output.splitlines()]
    for line in expected:
        assert any(got.endswith(line) for got in lines), f"missing {line!r} in:\n{output}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_help_exits_0_printing_usage(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"samples.{name}", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: ")
    assert "--executor {temporal,default}" in done.stdout


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_with_a_bad_flag_exits_2_with_the_usage_error_and_no_traceback(name: str) -> None:
    done = start_sample(name, "--no-such-flag")

    assert done.returncode == 2
    assert done.stderr.startswith("usage: ")
    assert "error: unrecognized arguments: --no-such-flag" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_runs_on_the_default_executor(name: str, tmp_path: Path) -> None:
    output = run_sample(name, "--executor", "default", "--db", str(tmp_path / "sample.db"))
    assert "executor: default" in output
    assert_lines(output, EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_runs_on_temporal(name: str, temporal_env: WorkflowEnvironment) -> None:
    address = temporal_env.client.service_client.config.target_host
    output = run_sample(name, env={"TEMPORAL_ADDRESS": address})
    assert f"Temporal at {address}" in output
    assert_lines(output, EXPECTED[name])


def test_quickstart_starts_its_own_dev_server_when_no_address_is_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-m", "samples.quickstart"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Temporal dev server at 127.0.0.1:" in done.stdout
    assert "Web UI at http://127.0.0.1:" in done.stdout
    assert_lines(done.stdout, EXPECTED["quickstart"])
