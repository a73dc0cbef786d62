"""Regenerate the operator UI's screenshots in ``docs/``: ``python -m scripts.screenshots``.

Builds a demo SQLite store (``scripts.demo_workflows``: completed, failed, canceled and waiting orders, with
retries, signals, timers and child workflows), serves ``beluga ui --read-only`` over it in a subprocess, and
photographs the list and a run page with the system Chromium through Playwright (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, Signal

from .demo_workflows import WORKFLOWS, order_pipeline

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("BELUGA_CHROMIUM", "/usr/bin/chromium")


async def build_demo(path: Path) -> None:
    """Orders 1001-1008: most approved and finished, 1003's card declined, 1005 canceled, 1006 and 1008
    still waiting for approval."""
    store = SQLiteStore(path)
    async with DefaultExecutor(store=store, workflows=WORKFLOWS) as executor:
        handles = []
        for n in range(1001, 1009):
            handles.append(await executor.execute(order_pipeline, id=f"order-{n}", input=f"order-{n}"))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)
        for handle in handles:
            if handle.id in ("order-1006", "order-1008"):
                continue
            if handle.id == "order-1005":
                await executor.cancel(handle.id)
                continue
            await asyncio.sleep(0.15)
            await executor.signal(handle.id, Signal(name="approve", payload="approved"))
        for handle in handles:
            if handle.id not in ("order-1006", "order-1008"):
                await asyncio.gather(handle.result(), return_exceptions=True)
    await store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def photograph(base: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
        await page.goto(f"{base}/")
        await page.wait_for_selector("#runs tbody tr")
        await page.screenshot(path=str(out / "ui-list.png"), full_page=True)
        await page.goto(f"{base}/runs/order-1001")
        await page.wait_for_selector(".tl-bar.child")
        await page.click('.tl-bar[data-label="reserve_stock"]')
        await page.screenshot(path=str(out / "ui-run.png"), full_page=True)
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNGs go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "orders.db"
        asyncio.run(build_demo(db))
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        command = [
            sys.executable,
            "-m",
            "beluga_core",
            "--db",
            db.name,
            "ui",
            "--port",
            str(port),
            "--read-only",
        ]
        server = subprocess.Popen(command, env=env, cwd=tmp)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/api/workflows")
            asyncio.run(photograph(f"http://127.0.0.1:{port}", args.out))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"screenshots written to {args.out}")


if __name__ == "__main__":
    main()
