"""The web UI's routes, in this process: the JSON it serves, and the guards on signal and cancel (a
per-process token, same-origin only, loopback host names, read-only mode).

The app is embedded here over a live DefaultExecutor (``create_app(store, executor)``), so a signal sent
through it reaches the run at once.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from beluga_core.stores import InMemoryStore
from beluga_core.ui import create_app
from beluga_core.ui._security import LOOPBACK_NAMES
from beluga_core.workflow import DefaultExecutor
from tests.fixtures._servers import free_port

from .conftest import beluga, start_beluga
from .workflows import WORKFLOWS, approval, doomed, reset_flaky, waiter

BASE = "http://127.0.0.1:8233"
TOKEN = "t0ken-for-tests"


@dataclass
class Served:
    executor: DefaultExecutor
    client: httpx.AsyncClient

    async def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        sent = {"content-type": "application/json", "x-beluga-token": TOKEN, "origin": BASE, **headers}
        return await self.client.post(path, json=body or {}, headers={k: v for k, v in sent.items() if v})


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    store = InMemoryStore()
    reset_flaky("U-1")
    async with DefaultExecutor(store=store, workflows=WORKFLOWS) as executor:
        await executor.execute(approval, id="ui/approval 1", input="U-1")  # a slash and a space in the id
        await executor.execute(waiter, id="ui-waiter", input="w")
        failing = await executor.execute(doomed, id="ui-doomed", input="U-3")
        await asyncio.gather(failing.result(), return_exceptions=True)
        for _ in range(200):
            if await executor.query("ui/approval 1", "stage") == "awaiting approval":
                break
            await asyncio.sleep(0.02)
        app = create_app(store, executor, source="memory", token=TOKEN, allowed_hosts=set(LOOPBACK_NAMES))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            yield Served(executor, client)


async def test_pages_carry_the_token_and_forbid_foreign_scripts(served: Served) -> None:
    for path in ("/", "/runs/ui%2Fapproval%201"):
        page = await served.client.get(path)
        assert page.status_code == 200
        assert f'<meta name="beluga-token" content="{TOKEN}">' in page.text
        assert '<meta name="beluga-read-only" content="false">' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="([^"]*)"', page.text)
        assert assets and all(url.startswith("/") for url in assets), assets  # shipped with the package
    script = await served.client.get("/static/app.js")
    assert script.status_code == 200 and "X-Beluga-Token" in script.text


async def test_the_list_and_the_run_as_json(served: Served) -> None:
    listed = (await served.client.get("/api/workflows")).json()
    rows = {row["workflow_id"]: row for row in listed["workflows"]}
    assert set(rows) == {"ui/approval 1", "ui-waiter", "ui-doomed"}
    assert rows["ui-doomed"]["status"] == "failed" and rows["ui-doomed"]["error"]["type"] == "ActivityError"
    assert listed["source"] == "memory" and listed["read_only"] is False
    only = (await served.client.get("/api/workflows", params={"status": "failed"})).json()["workflows"]
    assert [row["workflow_id"] for row in only] == ["ui-doomed"]
    assert (await served.client.get("/api/workflows", params={"status": "nope"})).status_code == 400

    run = (await served.client.get("/api/runs/ui%2Fapproval%201")).json()
    assert run["workflow"]["workflow_id"] == "ui/approval 1" and run["workflow"]["history"]
    spans = run["timeline"]["spans"]
    reserve = next(span for span in spans if span["label"] == "flaky_reserve")
    assert [a["status"] for a in reserve["attempts"]] == ["failed", "failed", "completed"]
    assert reserve["attempts"][0]["error"].startswith("ConnectionError: stock service busy")
    wait = next(span for span in spans if span["kind"] == "signal_wait")
    assert wait["label"] == "wait for approve" and wait["status"] == "running" and wait["end"] is None
    missing = await served.client.get("/api/runs/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "workflow 'nope' not found"


async def test_signal_and_cancel_with_the_token_reach_the_run(served: Served) -> None:
    sent = await served.post("/api/signal/ui%2Fapproval%201", {"name": "approve", "payload": "yes"})
    assert sent.status_code == 200, sent.text
    handle = await served.executor.get_handle("ui/approval 1")
    assert await handle.result(timeout=10) == "charged reservation-U-1"
    run = (await served.client.get("/api/runs/ui%2Fapproval%201")).json()
    child = next(span for span in run["timeline"]["spans"] if span["kind"] == "child")
    assert child["child_id"] == "ui/approval 1-notify" and child["status"] == "completed"
    assert [s["label"] for s in run["timeline"]["spans"] if s["kind"] == "activity"] == [
        "flaky_reserve",
        "charge",
    ]
    child_run = (await served.client.get("/api/runs/ui%2Fapproval%201-notify")).json()
    assert child_run["parent"]["workflow_id"] == "ui/approval 1"

    again = await served.post("/api/signal/ui%2Fapproval%201", {"name": "approve"})
    assert again.status_code == 409 and "already completed" in again.json()["error"]
    assert (await served.post("/api/signal/nope", {"name": "x"})).status_code == 404
    assert (await served.post("/api/signal/ui-waiter", {"payload": 1})).status_code == 400

    assert (await served.post("/api/cancel/ui-waiter")).status_code == 200
    with pytest.raises(Exception, match="canceled"):
        await (await served.executor.get_handle("ui-waiter")).result(timeout=10)
    assert (await served.post("/api/cancel/ui-waiter")).status_code == 409


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"x-beluga-token": ""}, "missing or wrong token"),
        ({"x-beluga-token": "guessed"}, "missing or wrong token"),
        ({"origin": "http://evil.example"}, "cross-origin request refused"),
        ({"origin": "http://localhost:8233"}, "cross-origin request refused"),  # another origin, same machine
        ({"sec-fetch-site": "cross-site", "origin": ""}, "cross-site request refused"),
        ({"content-type": "text/plain"}, "a JSON body is required"),
    ],
)
async def test_state_changing_routes_refuse_requests_a_foreign_page_could_make(
    served: Served, headers: dict[str, str], reason: str
) -> None:
    for path, body in (
        ("/api/signal/ui-waiter", {"name": "go", "payload": 1}),
        ("/api/cancel/ui-waiter", None),
    ):
        refused = await served.post(path, body, **headers)
        assert refused.status_code == 403, refused.text
        assert reason in refused.json()["error"]
    state = await served.executor.store.load("ui-waiter")
    assert state is not None and state.status.value == "running"
    assert all(event.type.value != "signal_received" for event in state.history)


async def test_only_loopback_host_names_are_answered(served: Served) -> None:
    rebound = await served.client.get("/api/workflows", headers={"host": "evil.example:8233"})
    assert rebound.status_code == 421
    for host in ("localhost:8233", "[::1]:8233", "127.0.0.1"):
        assert (await served.client.get("/api/workflows", headers={"host": host})).status_code == 200


async def test_read_only_mode_hides_the_buttons_and_refuses_every_post(served: Served) -> None:
    app = create_app(served.executor.store, served.executor, read_only=True, token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        page = await client.get("/runs/ui-waiter")
        assert '<meta name="beluga-read-only" content="true">' in page.text
        for path in ("/api/signal/ui-waiter", "/api/cancel/ui-waiter"):
            refused = await client.post(
                path,
                json={"name": "go"},
                headers={"x-beluga-token": TOKEN, "origin": BASE, "content-type": "application/json"},
            )
            assert refused.status_code == 403 and refused.json()["error"] == "the UI is read-only"
        assert (await client.get("/api/workflows")).json()["read_only"] is True


async def test_beluga_ui_warns_when_it_listens_beyond_loopback(parked_db: Path) -> None:
    port = free_port()
    process = await start_beluga("--db", str(parked_db), "ui", "--host", "0.0.0.0", "--port", str(port))
    try:
        assert process.stderr is not None
        lines = [(await asyncio.wait_for(process.stderr.readline(), 20)).decode() for _ in range(2)]
    finally:
        process.terminate()
        await process.wait()
    assert "warning: the UI listens on 0.0.0.0, not a loopback address" in " ".join(lines)
    assert "consider --read-only" in " ".join(lines)
    assert f"on http://0.0.0.0:{port}/" in lines[-1]


async def test_beluga_ui_refuses_a_port_in_use_in_one_line(parked_db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = await beluga("--db", str(parked_db), "ui", "--port", str(port))
    assert ran.code == 1
    assert ran.err.strip().startswith(f"beluga: cannot listen on 127.0.0.1:{port}: ")
