"""Concurrent workflows x 3 steps on SQLite, against plain sqlite3 writing the same rows, in one run.

Run: ``.venv/bin/python -m benchmarks.steps [--workflows 300] [--rounds 5]``

The Beluga side is the workload of ``benchmarks.default_vs_dbos`` (imported, not copied): N workflows
started at once on a ``DefaultExecutor`` over ``SQLiteStore`` (``synchronous=FULL``), each running 3
activities, every step durable before the workflow moves on. The baseline writes the rows that run left in
its file (the timed workflows' header rows and event rows) into a fresh file with plain ``sqlite3``, in the
transactions a group commit makes of them when the workflows move in lockstep: the starts, then each step
(its two events and the header update), then the outcomes, one transaction each, ``synchronous=FULL`` on
the same disk. That is the cost of the durable writes alone; the ratio is what the executor and the store
add. Each round runs both, one after the other, so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beluga_core.stores._sqlite import _SCHEMA

from .default_vs_dbos import STEPS, run_beluga

GOAL = 4800  # steps/s: twice the 2,100-2,400 measured when the goal was set (issue 11)
TIMED_PREFIX = "timed-"  # the ids run_beluga gives the workflows it times


@dataclass
class Transaction:
    """The rows one group commit writes: new header rows, header updates, event rows."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[str, int, str]] = field(default_factory=list)


def transactions_of(db: Path) -> list[Transaction]:
    """The timed workflows' rows in ``db``, in the transactions that wrote them.

    Each workflow's history is its start (event 1), per step an activity's start and completion (events
    2k and 2k+1) and its outcome (event 2 * STEPS + 2): event ``i`` was written by transaction ``i // 2``.
    """
    conn = sqlite3.connect(db)
    like = (TIMED_PREFIX + "%",)
    headers = conn.execute("SELECT * FROM workflows WHERE workflow_id LIKE ?", like).fetchall()
    events = conn.execute("SELECT * FROM events WHERE workflow_id LIKE ? ORDER BY id", like).fetchall()
    conn.close()
    txns = [Transaction() for _ in range(STEPS + 2)]
    assert len(events) == len(headers) * (2 * STEPS + 2), "not the history of the 3-step workload"
    for workflow_id, run_id, type_, status, input_, result, error, created, updated, timeout, *_ in headers:
        txns[0].inserts.append(
            (workflow_id, run_id, type_, "running", input_, "null", None, created, updated, timeout)
        )
        for txn in txns[1:-1]:
            txn.updates.append(("running", "null", None, updated, workflow_id))
        txns[-1].updates.append((status, result, error, updated, workflow_id))
    for event in events:
        txns[event[1] // 2].events.append(event)
    return txns


def raw_sqlite(db: Path, txns: list[Transaction], workflows: int) -> float:
    """Steps per second of plain ``sqlite3`` committing ``txns`` in turn (the schema made beforehand)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SCHEMA)
    started = time.perf_counter()
    for txn in txns:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO workflows (workflow_id, run_id, workflow_type, status, input, result, error, "
            "created_us, updated_us, timeout_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            txn.inserts,
        )
        conn.executemany(
            "UPDATE workflows SET status = ?, result = ?, error = ?, updated_us = ? WHERE workflow_id = ?",
            txn.updates,
        )
        conn.executemany("INSERT INTO events VALUES (?, ?, ?)", txn.events)
        conn.execute("COMMIT")
    took = time.perf_counter() - started
    conn.close()
    return workflows * STEPS / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ours: list[float] = []
    raw: list[float] = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:  # the disk the project is on, not a tmpfs
        for round_no in range(1, args.rounds + 1):
            beluga_db = Path(tmp) / f"beluga-{round_no}.db"
            ours.append(asyncio.run(run_beluga(beluga_db, args.workflows)))
            txns = transactions_of(beluga_db)
            raw.append(raw_sqlite(Path(tmp) / f"raw-{round_no}.db", txns, args.workflows))
            print(
                f"round {round_no}: beluga {ours[-1]:6.0f} steps/s   sqlite3 {raw[-1]:6.0f} steps/s   "
                f"beluga/sqlite3 {ours[-1] / raw[-1]:.2f}"
            )
    best = max(ours)
    ratios = [o / r for o, r in zip(ours, raw, strict=True)]
    print(
        f"{args.workflows} concurrent workflows x {STEPS} steps, best of {args.rounds} interleaved rounds, "
        "synchronous=FULL"
    )
    print(
        f"DefaultExecutor on SQLiteStore:   {best:.0f} steps/s (goal: at least {GOAL}) {'met' if best >= GOAL else 'NOT met'}"
    )
    print(f"sqlite3, same rows, same commits: {max(raw):.0f} steps/s")
    print(f"beluga / sqlite3: {best / max(raw):.2f} (rounds {min(ratios):.2f} to {max(ratios):.2f})")


if __name__ == "__main__":
    main()
