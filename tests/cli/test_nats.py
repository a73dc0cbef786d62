"""The commands against a real ``nats-server``: runs a DefaultExecutor parked in a JetStream KV bucket."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from beluga_core.stores import NatsStore
from tests.fixtures.nats import NatsServer, start_nats_server

from .conftest import beluga, finished, invoke, park, resume_until_done, start_beluga


async def test_every_command_on_a_nats_bucket(nats_server: NatsServer) -> None:
    bucket = f"cli_{uuid.uuid4().hex[:8]}"
    store = NatsStore(nats_server.url, bucket=bucket)
    await park(store)
    await store.close()
    # The user and password are not needed by this server; they must not show in anything printed.
    url = nats_server.url.replace("nats://", "nats://ops:hunter2@")
    where = ["--nats", url, "--bucket", bucket]
    listed = await beluga(*where, "list", "--json")
    assert listed.code == 0, listed
    assert sorted(row["workflow_id"] for row in json.loads(listed.out)) == [
        "approval-1",
        "doomed-1",
        "waiter-1",
    ]
    table = await beluga(*where, "list")
    assert f"in NATS nats://ops:***@127.0.0.1:{nats_server.port} bucket {bucket}" in table.out, table
    shown = json.loads((await beluga(*where, "show", "approval-1", "--json")).out)
    assert shown["status"] == "running" and shown["history"][-1]["signal_name"] == "approve"
    staged = await beluga(*where, "--workflows", "tests.cli.workflows", "query", "approval-1", "stage")
    assert json.loads(staged.out) == "awaiting approval", staged

    waiting = await start_beluga(*where, "result", "approval-1", "--wait", "60")
    assert (await beluga(*where, "signal", "approval-1", "approve", '"ok"')).code == 0
    assert (await beluga(*where, "cancel", "waiter-1")).code == 0
    later = NatsStore(nats_server.url, bucket=bucket)  # a later process: a store of its own
    try:
        await resume_until_done(later, "approval-1", "waiter-1")
    finally:
        await later.close()
    waited = await finished(waiting)
    assert waited.code == 0, waited
    assert json.loads(waited.out) == "charged reservation-A-1"

    canceled = await beluga(*where, "result", "waiter-1")
    assert canceled.code == 1 and "was canceled" in canceled.err
    replayed = await beluga(*where, "replay", "--workflows", "tests.cli.workflows")
    assert replayed.code == 0 and "4 runs replayed" in replayed.out, replayed
    missing = await beluga(*where, "show", "nope")
    assert missing.err.strip() == (
        f"beluga: workflow 'nope' not found in NATS nats://ops:***@127.0.0.1:{nats_server.port} bucket {bucket}"
    )
    for ran in (listed, table, staged, waited, canceled, replayed, missing):
        assert "hunter2" not in ran.out + ran.err


async def test_a_nats_server_with_a_password_the_secret_never_printed(tmp_path: Path) -> None:
    secret = "pl4nted-s3cret"
    with start_nats_server(tmp_path / "nats", extra_args=["--user", "ops", "--pass", secret]) as server:
        good = server.url.replace("nats://", f"nats://ops:{secret}@")
        bad = server.url.replace("nats://", "nats://ops:wrong-pl4nted-s3cret@")
        # one after another: the in-process runner swaps sys.stdout while it runs
        listed = await invoke("--nats", good, "list", "--json")
        table = await invoke("--nats", good, "list")
        refused = await invoke("--nats", bad, "list")
        debug = await invoke("--debug", "--nats", bad, "show", "x")
    assert listed.code == 0 and json.loads(listed.out) == [], listed
    assert f"NATS nats://ops:***@127.0.0.1:{server.port}" in table.out, table
    assert refused.code == 1
    line = refused.err.strip()
    assert line.startswith("beluga: nats/") and "\n" not in line and "refused" in line, refused
    assert debug.code == 1 and "Traceback" in debug.err
    for ran in (listed, table, refused, debug):
        assert secret not in ran.out + ran.err
