"""Starting workflows one after another on SQLite, against the store's own single-commit rate, in one run.

Run: ``.venv/bin/python -m benchmarks.starts [--starts 300] [--rounds 3]``

A client that awaits each ``execute`` before the next can start no faster than one store commit per start
(each start is durable before ``execute`` returns, ``synchronous=FULL``). The baseline is that limit measured
on the same disk in the same run: ``SQLiteStore.create_run`` of the same new-run state, awaited in turn
(the store's single-commit rate, the goal's reference: at least 0.80 of it). Plain ``sqlite3`` committing one
header row and one event row per transaction is printed beside it, for the cost of the store itself. Rounds
alternate the three, so machine noise hits all alike. The started workflows wait for a signal, so only starts
are timed.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from beluga_core.stores import SQLiteStore
from beluga_core.workflow import (
    DefaultExecutor,
    EventType,
    HistoryEvent,
    WorkflowContext,
    WorkflowState,
)

GOAL = 0.80


async def parked(ctx: WorkflowContext) -> str:
    return str(await ctx.receive_signal("go").receive())


async def beluga_starts(db: Path, starts: int) -> float:
    """Starts per second of one client awaiting each ``execute`` in turn."""
    store = SQLiteStore(db)
    async with DefaultExecutor(store=store, workflows=[parked]) as executor:
        await executor.execute(parked, id="warm-up")
        started = time.perf_counter()
        for n in range(starts):
            await executor.execute(parked, id=f"start-{n}")
        took = time.perf_counter() - started
    await store.close()
    return starts / took


async def store_commits(db: Path, commits: int) -> float:
    """``SQLiteStore.create_run`` calls per second, each awaited before the next (one commit each)."""
    store = SQLiteStore(db)
    await store.create_run(_new_run("warm-up"))
    states = [_new_run(f"start-{n}") for n in range(commits)]
    started = time.perf_counter()
    for state in states:
        await store.create_run(state)
    took = time.perf_counter() - started
    await store.close()
    return commits / took


def _new_run(workflow_id: str) -> WorkflowState:
    now = datetime.now(timezone.utc)
    return WorkflowState(
        workflow_id=workflow_id,
        run_id=str(uuid.uuid4()),
        workflow_type="parked",
        history=[HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, timestamp=now)],
        created_at=now,
        updated_at=now,
    )


def raw_commits(db: Path, commits: int) -> float:
    """Transactions per second, each inserting one header row and one event row (what a start writes)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE headers (id TEXT PRIMARY KEY, body TEXT)")
    conn.execute("CREATE TABLE events (id TEXT, n INTEGER, body TEXT, PRIMARY KEY (id, n)) WITHOUT ROWID")
    body = '{"type": "workflow_started"}'
    started = time.perf_counter()
    for n in range(commits):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO headers VALUES (?, ?)", (f"start-{n}", body))
        conn.execute("INSERT INTO events VALUES (?, 1, ?)", (f"start-{n}", body))
        conn.execute("COMMIT")
    took = time.perf_counter() - started
    conn.close()
    return commits / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ours: list[float] = []
    store: list[float] = []
    raw: list[float] = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:  # the disk the project is on, not a tmpfs
        for round_no in range(1, args.rounds + 1):
            raw.append(raw_commits(Path(tmp) / f"raw-{round_no}.db", args.starts))
            store.append(asyncio.run(store_commits(Path(tmp) / f"store-{round_no}.db", args.starts)))
            ours.append(asyncio.run(beluga_starts(Path(tmp) / f"beluga-{round_no}.db", args.starts)))
            print(
                f"round {round_no}: execute {ours[-1]:6.0f} starts/s   store {store[-1]:6.0f} commits/s   "
                f"sqlite3 {raw[-1]:6.0f} commits/s   execute/store {ours[-1] / store[-1]:.2f}"
            )
    ratio = max(ours) / max(store)
    print(
        f"{args.starts} sequential starts per round, best of {args.rounds} interleaved rounds, synchronous=FULL"
    )
    print(f"DefaultExecutor.execute:          {max(ours):.0f} starts/s")
    print(f"SQLiteStore.create_run, in turn:  {max(store):.0f} commits/s")
    print(f"sqlite3, one commit each:         {max(raw):.0f} commits/s")
    print(f"execute / store: {ratio:.2f} (goal: at least {GOAL:.2f}) {'met' if ratio >= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
