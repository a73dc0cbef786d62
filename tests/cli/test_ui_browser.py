"""The web UI in a real browser: Debian's Chromium driven by Playwright (``executable_path``; nothing is
downloaded), against ``beluga ui`` running as a process of its own over a SQLite file.

The test opens the list, follows a run, checks the timeline shows each activity with its attempts, and sends
the signal the run waits for; a later executor process resumes the run and the page, refreshing itself, shows
it completed, with its child workflow linked.
"""

from __future__ import annotations

import asyncio
import os
import re
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from beluga_core.stores import SQLiteStore
from tests.fixtures._servers import free_port

from .conftest import cli_env, resume_until_done, start_beluga

CHROMIUM = os.environ.get("BELUGA_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)


async def _up(url: str, process: asyncio.subprocess.Process, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if process.returncode is not None:
            raise AssertionError(f"beluga ui exited with {process.returncode}")
        try:
            await asyncio.to_thread(urllib.request.urlopen, url, timeout=1)
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture
async def ui_server(parked_db: Path) -> AsyncIterator[str]:
    port = free_port()
    process = await start_beluga("--db", str(parked_db), "ui", "--port", str(port), env=cli_env())
    base = f"http://127.0.0.1:{port}"
    try:
        await _up(f"{base}/api/workflows", process)
        yield base
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def test_follow_a_run_see_its_timeline_and_signal_it_to_completion(
    ui_server: str, parked_db: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    base = ui_server
    foreign: list[str] = []
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            page.on(
                "request",
                lambda request: None if request.url.startswith(base) else foreign.append(request.url),
            )
            page.on(
                "console", lambda message: problems.append(message.text) if message.type == "error" else None
            )
            page.on("pageerror", lambda error: problems.append(str(error)))

            await page.goto(f"{base}/")
            rows = page.locator("#runs tbody tr")
            await expect(rows).to_have_count(3)
            await expect(page.locator('#runs tr[data-id="doomed-1"] .pill')).to_have_text("failed")
            await page.click('#status-chips [data-status="running"]')
            await expect(rows).to_have_count(2)
            await page.click("text=approval-1")

            await expect(page).to_have_url(f"{base}/runs/approval-1")
            await expect(page.locator("#run-status")).to_have_text("running")
            reserve = page.locator('.tl-bar.activity[data-label="flaky_reserve"]')
            await expect(reserve).to_have_count(1)
            await expect(reserve.locator(".tl-seg.failed")).to_have_count(2)
            await expect(reserve.locator(".tl-seg.completed")).to_have_count(1)
            await expect(page.locator('.tl-bar.signal_wait[data-label="wait for approve"]')).to_have_class(
                re.compile(r"\brunning\b")
            )
            await reserve.click()
            await expect(page.locator("#step-detail")).to_contain_text("ConnectionError: stock service busy")

            await page.click("#signal-open")
            await page.fill("#signal-name", "approve")
            await page.fill("#signal-payload", "not json")
            await page.click("#signal-send")
            await expect(page.locator("#signal-error")).to_contain_text("not JSON")
            await page.fill("#signal-payload", '"yes"')
            await page.click("#signal-send")
            await expect(page.locator("#signal-dialog")).not_to_be_visible()

            store = SQLiteStore(
                parked_db
            )  # a later executor process: resumes the run, which takes the signal
            try:
                await resume_until_done(store, "approval-1")
                state = await store.load("approval-1")
            finally:
                await store.close()
            assert state is not None and state.result == "charged reservation-A-1"

            await expect(page.locator("#run-status")).to_have_text("completed", timeout=10_000)
            await expect(page.locator("#run-outcome")).to_have_text("charged reservation-A-1")
            await expect(page.locator("#actions")).to_be_hidden()
            recorded = [e.activity_name for e in state.history if e.type.value == "activity_completed"]
            shown = await page.locator(".tl-bar.activity").evaluate_all(
                "bars => bars.map(b => b.dataset.label)"
            )
            assert shown == recorded == ["flaky_reserve", "charge"]
            await expect(page.locator(".tl-mark.signal").first).to_be_attached()

            await page.click('.tl-label a:text("approval-1-notify")')
            await expect(page).to_have_url(f"{base}/runs/approval-1-notify")
            await expect(page.locator('.tl-bar.activity[data-label="notify"]')).to_have_count(1)
            await expect(page.locator("#facts")).to_contain_text("approval-1")

            await page.goto(f"{base}/runs/waiter-1")
            await page.click("#cancel-open")
            await page.click("#cancel-dismiss")  # the confirmation guards it: nothing sent
            await page.click("#cancel-open")
            await page.click("#cancel-confirm")
            await expect(page.locator("#cancel-dialog")).not_to_be_visible()
        finally:
            await browser.close()

    store = SQLiteStore(parked_db)  # the cancellation waits in the store's inbox for the run's next executor
    try:
        await resume_until_done(store, "waiter-1")
        waiter = await store.load("waiter-1")
        assert waiter is not None and waiter.status.value == "canceled"
        assert [e.type.value for e in waiter.history].count("workflow_cancel_requested") == 1
    finally:
        await store.close()
    assert foreign == []
    assert problems == []
