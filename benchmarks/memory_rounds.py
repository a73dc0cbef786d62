"""Rounds of short workflows on one long-lived DefaultExecutor: memory stays flat, finished runs are not kept.

Run: ``.venv/bin/python -m benchmarks.memory_rounds [--rounds 10] [--per-round 5000]``

Each round starts ``--per-round`` short workflows (a sync activity, an async activity, ``sleep(0)`` and a
signal: the steps of a typical agent turn) on one DefaultExecutor over a SQLiteStore in a temporary
directory, sends each its signal, awaits every result and drops the handles. After rounds 1, 5 and 10 (see
``--report``) it prints the process's RSS (``VmRSS`` of ``/proc/self/status``) and how many ``WorkflowRun``,
``DefaultWorkflowContext``, ``Journal`` and ``DefaultWorkflowHandle`` objects are still alive after a
``gc.collect()``: finished runs must not be retained, so these are 0 between rounds. The ``peak`` column is
``VmHWM``, the highest RSS so far: it is reached in round 1 (5,000 workflows in flight) and must not grow.

RSS is not the Python heap. CPython's allocator and glibc's malloc keep freed memory for reuse instead of
returning it to the OS, and SQLite's page cache grows with the file up to its ``cache_size`` (2 MB per
connection by default): both are a high-water mark that is reached after a few rounds and stays flat, not a
leak. ``--malloc-trim`` calls glibc's ``malloc_trim(0)`` before each reading, which returns the free heap to
the OS and so tells fragmentation from retention; ``--delete`` deletes the finished workflows from the store
after each round (the store is then the same size every round); ``--keep-handles`` keeps every handle, as an
application might (each should then hold only its run's final state, not the run); ``--trace`` compares ``tracemalloc``
snapshots of the Python heap (after round 2 and after the last round) and prints the top 20 growths by
traceback; ``--objects`` prints the types whose gc-tracked object counts grew.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from beluga_core.executor._context import DefaultWorkflowContext
from beluga_core.executor._handle import DefaultWorkflowHandle
from beluga_core.executor._journal import Journal
from beluga_core.executor._run import WorkflowRun
from beluga_core.stores import SQLiteStore
from beluga_core.workflow import DefaultExecutor, Signal, WorkflowContext

RETAINED_TYPES: tuple[type, ...] = (WorkflowRun, DefaultWorkflowContext, Journal, DefaultWorkflowHandle)
TRACE_FROM_ROUND = 2  # the tracemalloc baseline: after warm-up (caches, the SQLite page cache, free lists)


def plan(text: str) -> int:
    return len(text.split())


async def score(words: int) -> int:
    return words * 2


async def agent_turn(ctx: WorkflowContext, prompt: str) -> int:
    words = await ctx.execute_activity(plan, prompt)
    await ctx.sleep(0)
    reply = await ctx.receive_signal("reply").receive()
    return int(await ctx.execute_activity(score, words)) + len(str(reply))


def rss_kib() -> dict[str, int]:
    """This process's resident set size and its anonymous (heap) and file-backed parts, in KiB (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0])
    if "VmRSS" not in fields:
        raise RuntimeError("no VmRSS in /proc/self/status (this benchmark reads Linux's /proc)")
    return fields


def malloc_trim() -> None:
    """Return glibc's free heap memory to the OS (no-op where glibc is absent)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def retained() -> dict[str, int]:
    """Live objects of each run-scoped type, after a full collection."""
    gc.collect()
    counts = Counter(type(o).__name__ for o in gc.get_objects() if isinstance(o, RETAINED_TYPES))
    return {t.__name__: counts[t.__name__] for t in RETAINED_TYPES}


def object_counts() -> Counter[str]:
    gc.collect()
    return Counter(type(o).__qualname__ for o in gc.get_objects())


@dataclass
class Reading:
    round: int
    seconds: float
    rss: dict[str, int]
    live: dict[str, int]
    blocks: int  # memory blocks the Python allocator holds for live objects (after gc.collect())


async def one_round(
    executor: DefaultExecutor, store: SQLiteStore, n: int, count: int, delete: bool
) -> list[DefaultWorkflowHandle]:
    ids = [f"r{n}-{i}" for i in range(count)]
    handles = await asyncio.gather(
        *(executor.execute(agent_turn, id=wid, input=f"turn {i} of round {n}") for i, wid in enumerate(ids))
    )
    await asyncio.gather(*(executor.signal(wid, Signal(name="reply", payload="ok")) for wid in ids))
    results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [2 * 5 + len("ok")] * count, results[:3]  # 5 words in each prompt
    if delete:
        await asyncio.gather(*(store.delete(wid) for wid in ids))
    return handles


async def run(args: argparse.Namespace, db: Path) -> list[Reading]:
    readings: list[Reading] = []
    report = set(args.report)
    if args.trace:
        tracemalloc.start(args.trace_depth)
    baseline: tracemalloc.Snapshot | None = None
    counts_before: Counter[str] | None = None
    kept: list[DefaultWorkflowHandle] = []  # --keep-handles: as an application that keeps every handle
    store = SQLiteStore(db, synchronous="NORMAL")
    async with DefaultExecutor(store=store, workflows=[agent_turn]) as executor:
        for n in range(1, args.rounds + 1):
            started = time.perf_counter()
            handles = await one_round(executor, store, n, args.per_round, args.delete)
            if args.keep_handles:
                kept.extend(handles)
            del handles
            elapsed = time.perf_counter() - started
            live = retained()
            if args.malloc_trim:
                malloc_trim()
            if n in report or n == args.rounds:
                readings.append(Reading(n, elapsed, rss_kib(), live, sys.getallocatedblocks()))
            if n == TRACE_FROM_ROUND:
                if args.trace:
                    baseline = tracemalloc.take_snapshot()
                if args.objects:
                    counts_before = object_counts()
        final = tracemalloc.take_snapshot() if args.trace else None
        counts_after = object_counts() if args.objects else None
    await store.close()
    if baseline is not None and final is not None:
        print(f"\ntracemalloc: top 20 growths from round {TRACE_FROM_ROUND} to round {args.rounds}")
        for stat in final.compare_to(baseline, "traceback")[:20]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            for line in stat.traceback.format()[-4:]:
                print(f"      {line}")
    if counts_before is not None and counts_after is not None:
        grown = (counts_after - counts_before).most_common(15)
        print(
            f"\ngc-tracked objects grown from round {TRACE_FROM_ROUND} to round {args.rounds}:",
            grown or "none",
        )
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=5000)
    parser.add_argument("--report", type=int, nargs="*", default=[1, 5, 10], help="rounds to print")
    parser.add_argument("--delete", action="store_true", help="delete finished workflows after each round")
    parser.add_argument("--keep-handles", action="store_true", help="keep every handle (as an app might)")
    parser.add_argument("--malloc-trim", action="store_true", help="malloc_trim(0) before each reading")
    parser.add_argument("--trace", action="store_true", help="tracemalloc top 20 growths (slow)")
    parser.add_argument("--trace-depth", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--objects", action="store_true", help="gc-tracked object types that grew")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "rounds.db"
        readings = asyncio.run(run(args, db))
        db_mib = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
    print(
        f"\n{args.per_round} workflows per round (2 activities, sleep(0), 1 signal), SQLite synchronous=NORMAL"
    )
    names = [t.__name__ for t in RETAINED_TYPES]
    header = (
        f"{'round':>5} {'s':>6} {'RSS MiB':>8} {'vs round 1':>10} {'anon':>7} {'file':>7} {'peak':>7}"
        f" {'heap blocks':>11} {'vs round 1':>10}"
    )
    print(header + "  live " + " / ".join(names))
    first = readings[0].rss["VmRSS"]
    for r in readings:
        mib = {key: value / 1024 for key, value in r.rss.items()}
        live = " / ".join(str(r.live[name]) for name in names)
        print(
            f"{r.round:>5} {r.seconds:>6.2f} {mib['VmRSS']:>8.1f} {(r.rss['VmRSS'] - first) / 1024:>+10.1f}"
            f" {mib.get('RssAnon', 0):>7.1f} {mib.get('RssFile', 0) + mib.get('RssShmem', 0):>7.1f}"
            f" {mib.get('VmHWM', 0):>7.1f} {r.blocks:>11,} {r.blocks - readings[0].blocks:>+10,}  {live}"
        )
    runs = sum(readings[-1].live[t.__name__] for t in RETAINED_TYPES if t is not DefaultWorkflowHandle)
    verdict = "no" if runs == 0 else f"YES ({runs} run, context and journal objects alive)"
    print(f"finished runs retained after round {readings[-1].round}: {verdict}; database {db_mib:.1f} MiB")


if __name__ == "__main__":
    main()
