"""Operator errors: one clear line naming the thing, a non-zero exit, no traceback (``--debug`` shows it), and
no secret in what is printed.

These run the command in this process (Click's runner, in a thread with its own event loop), which is much
faster than a process per case; the other tests run it as a real process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures._servers import free_port

from .conftest import invoke


def one_line(err: str) -> str:
    """The error line, checked to be the only one printed, and without a traceback."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("beluga: ")
    return lines[0]


async def test_unknown_ids_finished_workflows_and_bad_payloads(parked_db: Path) -> None:
    db = str(parked_db)
    for command in (["show", "nope"], ["result", "nope"], ["signal", "nope", "go"], ["cancel", "nope"]):
        ran = await invoke("--db", db, *command)
        assert ran.code == 1
        assert one_line(ran.err) == f"beluga: workflow 'nope' not found in SQLite {db}"
    ran = await invoke("--db", db, "query", "nope", "status")
    assert ran.code == 1 and "'nope' not found" in one_line(ran.err)

    for command, verb in ((["signal", "doomed-1", "go"], "signal"), (["cancel", "doomed-1"], "cancel")):
        ran = await invoke("--db", db, *command)
        assert ran.code == 1
        assert one_line(ran.err) == f"beluga: cannot {verb} workflow 'doomed-1': it is already failed"

    ran = await invoke("--db", db, "signal", "approval-1", "approve", "yes")
    assert ran.code == 2
    line = one_line(ran.err)
    assert "bad PAYLOAD_JSON for signal 'approve'" in line and "needs its quotes" in line

    ran = await invoke("--db", db, "query", "approval-1", "stage")
    assert ran.code == 1 and "give --workflows MODULE[:ATTR]" in one_line(ran.err)
    ran = await invoke("--db", db, "query", "approval-1", "nosuch", env={})
    assert ran.code == 1
    ran = await invoke("--db", db, "--workflows", "tests.cli.workflows", "query", "approval-1", "nosuch")
    assert ran.code == 1 and "no query handler 'nosuch'" in one_line(ran.err)
    ran = await invoke("--db", db, "--workflows", "no_such_module_here", "query", "approval-1", "stage")
    assert ran.code == 1 and "cannot import 'no_such_module_here'" in one_line(ran.err)
    ran = await invoke("--db", db, "--workflows", "tests.cli.workflows:NOPE", "query", "approval-1", "stage")
    assert ran.code == 1 and "has no NOPE" in one_line(ran.err)
    ran = await invoke("--db", db, "replay")
    assert ran.code == 1 and "replay needs the workflow code" in one_line(ran.err)


async def test_missing_or_unreadable_stores_and_unknown_store_urls(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    ran = await invoke("--db", str(missing), "list")
    assert ran.code == 1 and f"no SQLite store at '{missing}'" in one_line(ran.err)
    assert not missing.exists()  # nothing created

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    ran = await invoke("--db", str(garbage), "list")
    assert ran.code == 1 and one_line(ran.err).startswith("beluga: sqlite/")

    cases = {
        (
            "--db",
            "nats://ops:hunter2@10.0.0.1:4222",
        ): "unknown store URL 'nats://ops:***@10.0.0.1:4222' for --db",
        (
            "--nats",
            "http://ops:hunter2@example.test",
        ): "unknown store URL 'http://ops:***@example.test' for --nats",
        (
            "--temporal",
            "http://example.test:7233",
        ): "--temporal 'http://example.test:7233': expected HOST:PORT",
        ("--temporal", "example.test"): "expected HOST:PORT",
        ("--db", "a.db", "--nats", "nats://x:1"): "give one store, not --db and --nats",
        ("--bucket", "b"): "--bucket goes with --nats URL",
        ("--namespace", "prod"): "--namespace: only with --temporal HOST:PORT",
        ("--temporal", "127.0.0.1:7233", "--tls-cert", "c.pem"): "--tls-cert and --tls-key go together",
    }
    for args, expected in cases.items():
        ran = await invoke(*args, "list")
        assert ran.code == 1, (args, ran)
        line = one_line(ran.err)
        assert expected in line, (args, line)
        assert "hunter2" not in ran.err + ran.out


async def test_an_unreachable_temporal_is_one_line_without_the_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no beluga.db here
    port = free_port()
    ran = await invoke("--temporal", f"127.0.0.1:{port}", "--api-key", "key-hunter2", "--no-tls", "list")
    assert ran.code == 1
    line = one_line(ran.err)
    assert line == f"beluga: cannot connect to Temporal at 127.0.0.1:{port}: connection refused"
    ran = await invoke(  # with no beluga.db here, TEMPORAL_ADDRESS picks Temporal, as for the temporal CLI
        "list",
        env={
            "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "TEMPORAL_API_KEY": "key-hunter2",
            "TEMPORAL_TLS": "false",
        },
    )
    assert ran.code == 1 and f"Temporal at 127.0.0.1:{port}" in one_line(ran.err)
    assert "hunter2" not in ran.err + ran.out


async def test_a_beluga_db_here_is_read_even_when_temporal_address_is_set(
    parked_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(parked_db.parent)
    (parked_db.parent / "beluga.db").write_bytes(parked_db.read_bytes())
    ran = await invoke("list", "--json", env={"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)  # the workflows of the SQLite file, not a Temporal connection error


async def test_debug_shows_the_traceback(parked_db: Path) -> None:
    ran = await invoke("--debug", "--db", str(parked_db), "show", "nope")
    assert ran.code == 1
    assert "Traceback (most recent call last)" in ran.err
    assert ran.err.splitlines()[-1] == f"beluga: workflow 'nope' not found in SQLite {parked_db}"


@pytest.mark.parametrize("args", [["--help"], ["list", "--help"], ["--version"]])
async def test_help_and_version_need_no_store(args: list[str], tmp_path: Path) -> None:
    ran = await invoke("--db", str(tmp_path / "none.db"), *args)
    assert ran.code == 0, ran
    assert ran.out


def test_temporal_tls_options_make_the_clients_tls_config(tmp_path: Path) -> None:
    from temporalio.service import TLSConfig

    from beluga_core.cli._errors import OperatorError
    from beluga_core.cli._stores import TemporalOptions, temporal_tls

    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_bytes(name.encode())
    mtls = temporal_tls(
        TemporalOptions(
            "h:7233",
            tls_cert=str(tmp_path / "client.pem"),
            tls_key=str(tmp_path / "client.key"),
            tls_ca=str(tmp_path / "ca.pem"),
            tls_server_name="temporal.internal",
        )
    )
    assert mtls == TLSConfig(
        server_root_ca_cert=b"ca.pem",
        client_cert=b"client.pem",
        client_private_key=b"client.key",
        domain="temporal.internal",
    )
    assert temporal_tls(TemporalOptions("h:7233", api_key="k")) is True
    assert temporal_tls(TemporalOptions("h:7233", api_key="k", tls=False)) is False
    assert temporal_tls(TemporalOptions("h:7233")) is False
    assert temporal_tls(TemporalOptions("h:7233", tls=True)) is True
    with pytest.raises(OperatorError, match="--no-tls contradicts"):
        temporal_tls(TemporalOptions("h:7233", tls=False, tls_ca=str(tmp_path / "ca.pem")))
    with pytest.raises(OperatorError, match=r"--tls-ca '.*missing\.pem': cannot read it"):
        temporal_tls(TemporalOptions("h:7233", tls_ca=str(tmp_path / "missing.pem")))
