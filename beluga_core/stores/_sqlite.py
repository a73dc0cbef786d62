"""SQLiteStore: the embedded durable store (stdlib ``sqlite3``, WAL journal).

Layout: one row per workflow (its header fields) and one row per history event. A step appends its event
rows and updates the header's status columns, so its cost does not depend on the history's length.

All database work runs on one dedicated thread. Writes are group-committed: every write that arrives while
a commit is in flight goes into the next transaction together, so many concurrent workflows share one
fsync. A write's ``await`` returns only after its transaction has committed.

Two rules keep a run from being written after it was removed: an append never re-creates a run's header
(when no row matches its workflow id and run id, it fails with a :class:`StoreError` and writes nothing),
and ``delete`` refuses a workflow whose status is ``running`` (checked in the same transaction).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import sqlite3
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from pydantic_core import to_json

from ..api._types import (
    Delivery,
    ErrorInfo,
    HistoryEvent,
    ParkedRun,
    UpdateReply,
    WorkflowFilter,
    WorkflowState,
    WorkflowStatus,
    utc_now,
)
from ..api.errors import StoreError
from ._base import (
    KEEP_UNTAKEN_REPLY,
    check_one_owner,
    owned_elsewhere,
    require_workflow_id,
    run_not_stored,
    running_not_deleted,
    store_errors,
)
from ._db_thread import DatabaseThread

PROVIDER = "sqlite"

T = TypeVar("T")
_COLUMNS = "workflow_id, run_id, workflow_type, status, input, result, error, created_us, updated_us, timeout_us, owner"
_UPSERT = (
    f"INSERT INTO workflows ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (workflow_id) DO UPDATE SET "
    "run_id = excluded.run_id, workflow_type = excluded.workflow_type, status = excluded.status, "
    "input = excluded.input, result = excluded.result, error = excluded.error, created_us = excluded.created_us, "
    "updated_us = excluded.updated_us, timeout_us = excluded.timeout_us, owner = excluded.owner, "
    "parked_until_us = NULL WHERE "
)
#: The condition under which the run of a ``workflows`` row may be written by the owner ``excluded.owner`` or
#: taken over: no owner, that owner, or an owner whose lease has expired (?: now, in microseconds).
_NOT_HELD_BY_ANOTHER = (
    "(workflows.owner IS NULL OR workflows.owner IS excluded.owner OR COALESCE((SELECT lease_until_us FROM "
    "executors WHERE executors.owner = workflows.owner), 0) < ?)"
)
# A save replaces a run unless another owner's live lease holds it.
_REPLACE_HEADER = _UPSERT + _NOT_HELD_BY_ANOTHER
_CREATE_UNLESS_RUNNING = _UPSERT + "workflows.status != 'running'"
_UPDATE_STATUS = (
    "UPDATE workflows SET status = ?, result = ?, error = ?, updated_us = ?, parked_until_us = NULL "
    "WHERE workflow_id = ? AND run_id = ? AND owner IS ?"
)
_INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?)"
_RENEW = "INSERT INTO executors VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET lease_until_us = excluded.lease_until_us"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    workflow_id   TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    status        TEXT NOT NULL,
    input         TEXT NOT NULL,
    result        TEXT NOT NULL,
    error         TEXT,
    created_us    INTEGER NOT NULL,
    updated_us    INTEGER NOT NULL,
    timeout_us    INTEGER,
    owner         TEXT,
    parked_until_us INTEGER
);
CREATE INDEX IF NOT EXISTS workflows_by_status ON workflows (status, created_us);
CREATE TABLE IF NOT EXISTS executors (
    owner          TEXT PRIMARY KEY,
    lease_until_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id          TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS workflows_by_created ON workflows (created_us);
CREATE TABLE IF NOT EXISTS replies (
    id         TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    workflow_id TEXT NOT NULL,
    id          INTEGER NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (workflow_id, id)
) WITHOUT ROWID;
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    since = moment - _EPOCH
    # Integer arithmetic on the parts: a third of the cost of dividing by a timedelta, and as exact.
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


#: How often :meth:`SQLiteStore.wait_for_change` (and a run's watch) looks at ``data_version``.
_CHANGE_POLL_SECONDS = 0.1
#: What a run's watch compares: the run's id, status and last event, and whether the reply is there.
_RUN_MARK = (
    "SELECT (SELECT run_id || ' ' || status FROM workflows WHERE workflow_id = ?), "
    "(SELECT MAX(id) FROM events WHERE workflow_id = ?), EXISTS (SELECT 1 FROM replies WHERE id = ?)"
)


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _add_new_columns(conn: sqlite3.Connection) -> None:
    """Bring a file made before leases or the parked index existed up to date (its runs start unowned and
    not parked), and index what a claim reads: the runs that are not parked by owner, the parked ones by
    wake-up time."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(workflows)")}
    if "owner" not in columns:
        conn.execute("ALTER TABLE workflows ADD COLUMN owner TEXT")
    if "parked_until_us" not in columns:
        conn.execute("ALTER TABLE workflows ADD COLUMN parked_until_us INTEGER")
    conn.execute(
        "CREATE INDEX IF NOT EXISTS workflows_awake_by_owner ON workflows (owner, created_us) "
        "WHERE status = 'running' AND parked_until_us IS NULL"
    )
    conn.execute(
        "CREATE INDEX IF NOT EXISTS workflows_parked_by_wake ON workflows (parked_until_us) "
        "WHERE parked_until_us IS NOT NULL"
    )


#: ``parked_until_us`` of a run parked on a signal only (no timer).
_NO_WAKE_US = 2**63 - 1


def _wake_us(wake_at: datetime | None) -> int:
    return _NO_WAKE_US if wake_at is None else _to_us(wake_at)


def _parked_run(row: sqlite3.Row) -> ParkedRun:
    wake_us = row["parked_until_us"]
    return ParkedRun(
        workflow_id=row["workflow_id"],
        run_id=row["run_id"],
        wake_at=None if wake_us == _NO_WAKE_US else _from_us(wake_us),
    )


def _json(value: Any) -> str:
    return "null" if value is None else to_json(value).decode()


def _error_json(error: ErrorInfo | None) -> str | None:
    return None if error is None else error.model_dump_json()


_event_serializer = HistoryEvent.__pydantic_serializer__


def _event_rows(workflow_id: str, events: Sequence[HistoryEvent]) -> builtins.list[tuple[str, int, str]]:
    """The ``events`` rows of ``events`` (JSON as ``model_dump_json`` writes it, without its argument handling)."""
    return [(workflow_id, e.id, _event_serializer.to_json(e).decode()) for e in events]


@dataclass(frozen=True, slots=True)
class _Write:
    """One queued write: ``apply`` does it alone; an append also carries its rows, to be batched."""

    apply: Callable[[sqlite3.Connection], None]
    update: tuple[Any, ...] | None = None
    events: builtins.list[tuple[str, int, str]] = field(default_factory=builtins.list)


class _StillRunning(Exception):
    """``create_run`` found a running workflow with the same id."""


class _HeaderMissing(Exception):
    """An append of a group found no header row to update: the group is redone one write at a time, where
    the append at fault fails with its own error and the others go through."""


def _apply_grouped(conn: sqlite3.Connection, writes: builtins.list[_Write]) -> None:
    """Apply ``writes`` in order; each run of consecutive appends costs two statements in all."""
    i = 0
    while i < len(writes):
        if writes[i].update is None:
            writes[i].apply(conn)
            i += 1
            continue
        end = i
        while end < len(writes) and writes[end].update is not None:
            end += 1
        group = writes[i:end]
        before = conn.total_changes
        conn.executemany(_UPDATE_STATUS, [w.update for w in group if w.update is not None])
        if conn.total_changes - before != len(group):
            raise _HeaderMissing("an append of this group has no header row")
        conn.executemany(_INSERT_EVENT, [row for w in group for row in w.events])
        i = end


def _in_transaction(
    conn: sqlite3.Connection, work: Callable[[], None], before_commit: Callable[[], None] | None = None
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        work()
        if before_commit is not None:
            before_commit()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _locked(exc: Exception) -> bool:
    """True for SQLite's "database is locked": another connection held the write lock past the busy timeout."""
    return isinstance(exc, sqlite3.OperationalError) and "database is locked" in str(exc)


class _Commit(asyncio.Future[None]):
    """The commit a queued write waits for. A cancelled caller still waits for it, then is cancelled.

    So when a cancelled task has finished, none of its writes is still in flight (another store object on
    the same file, opened next, sees them all). ``cancel`` refuses: a task cancelled while awaiting this
    future keeps waiting and gets its ``CancelledError`` once the commit is done (what ``asyncio.shield``
    plus a second wait did, without the extra future and the extra turn of the event loop per write).
    """

    def cancel(self, msg: Any = None) -> bool:
        return False


class _RunWatch:
    """The watch of a run and of a reply on a :class:`SQLiteStore` (see ``LeasingStore.watch_run``): its own
    ``data_version`` baseline, so it takes no change from ``wait_for_change`` nor from another watch."""

    def __init__(self, store: SQLiteStore, params: tuple[str, str, str]) -> None:
        self._store = store
        self._params = params
        self._version: int | None = None
        self._mark: tuple[Any, ...] | None = None

    async def start(self) -> None:
        self._version, self._mark = await self._store._read("watch_run", self._look)

    async def wait(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            version = await self._store._read("watch_run", _data_version)
            if version != self._version:
                self._version, mark = await self._store._read("watch_run", self._look)
                if mark != self._mark:
                    self._mark = mark
                    return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.sleep(min(_CHANGE_POLL_SECONDS, left))

    def close(self) -> None:
        """Nothing to release: the watch only reads."""

    def _look(self, conn: sqlite3.Connection) -> tuple[int, tuple[Any, ...]]:
        version = _data_version(conn)
        return version, tuple(conn.execute(_RUN_MARK, self._params).fetchone())


class SQLiteStore:
    """A durable store in one SQLite file.

    Args:
        path: the database file (created if missing). ``":memory:"`` gives a private in-memory database.
        synchronous: SQLite's ``synchronous`` setting. ``"FULL"`` (the default) makes every committed step
            survive a power loss; ``"NORMAL"`` survives a process crash but may lose the last commits on a
            power loss, and is faster.
        busy_timeout: how long a write waits for another connection's lock on the file (another process
            committing, a backup) before it fails with :class:`StoreError` (``database is locked``).
    """

    #: How long an update reply nobody took stays in the replies table.
    _keep_reply = KEEP_UNTAKEN_REPLY

    def __init__(
        self,
        path: str | os.PathLike[str] = "beluga.db",
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"SQLiteStore: synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        if not isinstance(busy_timeout, timedelta) or busy_timeout < timedelta(0):
            raise ValueError(
                f"SQLiteStore: busy_timeout must be a timedelta of 0 or more, got {busy_timeout!r}"
            )
        self.path = os.fspath(path)
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout // timedelta(milliseconds=1)
        self._thread = DatabaseThread("beluga-sqlite")
        self._conn: sqlite3.Connection | None = None
        #: Writes queued for the next commit; True while a commit is posted or in flight; the last write's
        #: commit (writes commit in order, so close waits for that one).
        self._pending: builtins.list[tuple[_Write, _Commit]] = []
        self._committing = False
        self._last_commit: _Commit | None = None
        #: Callbacks waiting for a commit to reach the disk (see :meth:`call_while_syncing`).
        self._sync_waiters: builtins.list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the commit in flight
        self._closed = False
        #: The executor whose writes this store object fences (see :meth:`bind_owner`), and its lease length.
        self._owner: str | None = None
        self._lease_us = 0
        self._data_version: int | None = None

    # -- public API ---------------------------------------------------------------------------------------

    async def save(self, state: WorkflowState) -> None:
        require_workflow_id(PROVIDER, "save", state.workflow_id)
        header = self._header_row(state)
        events = _event_rows(state.workflow_id, state.history)

        def write(conn: sqlite3.Connection) -> None:
            if not conn.execute(_REPLACE_HEADER, (*header, self._now_us())).rowcount:
                raise self._owned_elsewhere(conn, "save", state.workflow_id)
            conn.execute("DELETE FROM events WHERE workflow_id = ?", (state.workflow_id,))
            conn.executemany(_INSERT_EVENT, events)

        await self._write("save", _Write(write))

    async def create_run(self, state: WorkflowState) -> bool:
        """Save a new run, unless a run with the same id is still ``running``: then save nothing, return False.

        The check and the write are one statement in the group commit, so starting a workflow costs no
        separate read.
        """
        require_workflow_id(PROVIDER, "create_run", state.workflow_id)
        header = self._header_row(state)
        events = _event_rows(state.workflow_id, state.history)

        def write(conn: sqlite3.Connection) -> None:
            if not conn.execute(_CREATE_UNLESS_RUNNING, header).rowcount:
                raise _StillRunning(state.workflow_id)
            conn.execute("DELETE FROM events WHERE workflow_id = ?", (state.workflow_id,))
            conn.executemany(_INSERT_EVENT, events)

        try:
            await self._write("create_run", _Write(write))
        except StoreError as exc:
            if isinstance(exc.__cause__, _StillRunning):
                return False
            raise
        return True

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        """Insert ``new_events`` and update the status columns; the rest of the history is not rewritten."""
        require_workflow_id(PROVIDER, "append", state.workflow_id)
        update = (
            state.status.value,
            _json(state.result),
            _error_json(state.error),
            _to_us(state.updated_at),
            state.workflow_id,
            state.run_id,
            self._owner,
        )
        events = _event_rows(state.workflow_id, new_events)

        def write(conn: sqlite3.Connection) -> None:
            if not conn.execute(_UPDATE_STATUS, update).rowcount:
                row = conn.execute(
                    "SELECT run_id FROM workflows WHERE workflow_id = ?", (state.workflow_id,)
                ).fetchone()
                if row is not None and row["run_id"] == state.run_id:
                    raise self._owned_elsewhere(conn, "append", state.workflow_id)
                raise run_not_stored(PROVIDER, state)
            conn.executemany(_INSERT_EVENT, events)

        await self._write("append", _Write(write, update, events))

    async def load(self, workflow_id: str) -> WorkflowState | None:
        return await self._read("load", lambda conn: self._load_in(conn, workflow_id, "load"))

    async def list(self, filter: WorkflowFilter | None = None) -> builtins.list[WorkflowState]:
        flt = filter or WorkflowFilter()
        where: builtins.list[str] = []
        params: builtins.list[str] = []
        if flt.status is not None:
            where.append("status = ?")
            params.append(flt.status.value)
        if flt.workflow_type is not None:
            where.append("workflow_type = ?")
            params.append(flt.workflow_type)
        sql = "SELECT * FROM workflows"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_us DESC, workflow_id DESC"
        if flt.max_results is not None:
            sql += f" LIMIT {int(flt.max_results)}"

        def read(conn: sqlite3.Connection) -> builtins.list[WorkflowState]:
            return [self._state_from_row(conn, row, "list") for row in conn.execute(sql, params).fetchall()]

        return await self._read("list", read)

    async def delete(self, workflow_id: str) -> None:
        """Remove a finished workflow; a running one is refused with :class:`StoreError`, a missing id is fine.

        The status check and the delete are one transaction, so a workflow cannot start running in between.
        """

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT status FROM workflows WHERE workflow_id = ?", (workflow_id,)
            ).fetchone()
            if row is not None and row["status"] == WorkflowStatus.RUNNING.value:
                raise running_not_deleted(PROVIDER, workflow_id)
            conn.execute("DELETE FROM workflows WHERE workflow_id = ?", (workflow_id,))
            conn.execute("DELETE FROM events WHERE workflow_id = ?", (workflow_id,))

        await self._write("delete", _Write(write))

    async def close(self) -> None:
        """Commit what is pending and close the database. Further calls raise :class:`StoreError`."""
        if self._closed:
            return
        if self._last_commit is not None and not self._last_commit.done():
            await asyncio.wait({self._last_commit})
        self._closed = True
        if self._conn is not None:
            await self._thread.call(self._conn.close)
            self._conn = None
        self._thread.stop()

    def call_while_syncing(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` in the event loop while the next commit waits for the disk, to overlap the two.

        When the next turn of the loop finds no write queued or committing, it is called then; otherwise once
        the next commit has written its transaction and is syncing it to the disk (the database thread does
        not hold the GIL then), or when that commit ends without getting there. The executor starts a run
        it has just created this way, so the run's first steps overlap the next start's commit. Callbacks are
        called in the order they came.
        """
        self._sync_waiters.append(callback)
        if len(self._sync_waiters) == 1:
            asyncio.get_running_loop().call_soon(self._release_unless_committing)

    def _syncing(self) -> None:
        """On the database thread, between a commit's writes and its COMMIT (the fsync, without the GIL)."""
        loop = self._loop
        if self._sync_waiters and loop is not None:  # read across threads: one missed is released at the end
            loop.call_soon_threadsafe(self._release_sync_waiters)

    def _release_unless_committing(self) -> None:
        if not self._committing:
            self._release_sync_waiters()

    def _release_sync_waiters(self) -> None:
        waiters, self._sync_waiters = self._sync_waiters, []
        for callback in waiters:
            callback()

    # -- several processes (LeasingStore) ------------------------------------------------------------------

    def bind_owner(self, owner: str, lease_timeout: timedelta) -> None:
        """Fence this object's writes of runs by ``owner`` (see :class:`~beluga_core.api._protocols.LeasingStore`).

        One owner per store object: give each DefaultExecutor its own ``SQLiteStore`` (on the same file).
        """
        check_one_owner(self, repr(self.path), self._owner, owner, "file")
        self._owner = owner
        self._lease_us = lease_timeout // timedelta(microseconds=1)

    async def claim_runs(
        self,
        workflow_types: Collection[str],
        workflow_ids: Collection[str] | None = None,
        dead_owners: Collection[str] = (),
        limit: int | None = None,
    ) -> builtins.list[WorkflowState]:
        """Claim as :meth:`LeasingStore.claim_runs` says. Without ``workflow_ids``, a parked run (see
        :meth:`park_runs`) is claimed only once it has something to do: its timer is due, or a delivery waits
        for it. A claimed run is not parked any more."""
        owner = self._require_owner("claim_runs")
        if not workflow_types or (workflow_ids is not None and not workflow_ids):
            return []

        def take(conn: sqlite3.Connection) -> builtins.list[Any]:
            which, params = self._claimable(conn, owner, workflow_types, workflow_ids, dead_owners)
            if limit is not None:
                which += f" ORDER BY w.created_us LIMIT {int(limit)}"
            sql = (
                f"UPDATE workflows SET owner = ?, parked_until_us = NULL WHERE workflow_id IN ({which}) "
                "RETURNING workflow_id"
            )
            return conn.execute(sql, params).fetchall()

        def claim(conn: sqlite3.Connection) -> builtins.list[WorkflowState]:
            claimed = self._claim_in_transaction(conn, owner, lambda: take(conn))
            states = (self._load_in(conn, row[0], "claim_runs") for row in claimed)
            return [state for state in states if state is not None]

        return await self._read("claim_runs", claim)

    async def parked_runs(self, workflow_types: Collection[str]) -> builtins.list[ParkedRun]:
        """The parked runs of ``workflow_types``, from the parked index (nothing is claimed nor loaded)."""
        types = builtins.list(workflow_types)
        if not types:
            return []
        sql = (
            "SELECT workflow_id, run_id, parked_until_us FROM workflows INDEXED BY workflows_parked_by_wake "
            "WHERE parked_until_us IS NOT NULL AND status = 'running' AND owner IS NULL "
            f"AND workflow_type IN ({', '.join('?' * len(types))})"
        )

        def read(conn: sqlite3.Connection) -> builtins.list[ParkedRun]:
            return [_parked_run(row) for row in conn.execute(sql, types).fetchall()]

        return await self._read("parked_runs", read)

    async def park_runs(self, runs: Sequence[ParkedRun]) -> None:
        """Mark ``runs`` parked and release their leases (see :class:`~beluga_core.api._protocols.ParkingStore`)."""
        owner = self._require_owner("park_runs")
        rows = [
            (_wake_us(run.wake_at), run.workflow_id, run.run_id, owner, run.last_event_id, run.last_event_id)
            for run in runs
        ]
        sql = (
            "UPDATE workflows SET parked_until_us = ?, owner = NULL WHERE workflow_id = ? AND run_id = ? "
            "AND owner IS ? AND status = 'running' AND (? IS NULL OR "
            "(SELECT MAX(id) FROM events WHERE events.workflow_id = workflows.workflow_id) = ?)"
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(sql, rows)

        if rows:
            await self._write("park_runs", _Write(write))

    def _claimable(
        self,
        conn: sqlite3.Connection,
        owner: str,
        workflow_types: Collection[str],
        workflow_ids: Collection[str] | None,
        dead_owners: Collection[str],
    ) -> tuple[str, builtins.list[Any]]:
        """The SELECT of the running runs ``owner`` may claim (as ``w``), and its parameters (``owner`` first:
        the SET's).

        The owners whose runs may be taken are looked up first in the small ``executors`` table (expired
        leases, ``dead_owners``), so that each part of the SELECT is an indexed search that reads only what
        may be claimed, whatever the number of runs live owners hold or that are parked: the runs that are not
        parked (unowned, or of those owners), the parked ones whose timer is due, and the parked ones a
        delivery waits for. A store object's first claim also takes the runs of owners with no lease row at
        all (a file written by hand, or by a store object bound to an owner that never claimed).
        """
        types = builtins.list(workflow_types)
        of_types = f"w.workflow_type IN ({', '.join('?' * len(types))})"
        takeable = self._takeable_owners(conn, owner, dead_owners)
        params: builtins.list[Any] = [owner]
        if workflow_ids is not None:  # by primary key: the ones it names, its own among them to resume them
            ids = builtins.list(workflow_ids)
            held = [*takeable, owner]
            params += [*types, *ids, *held]
            # "+w.status": not through the status index (it would read every running run), by the ids.
            return (
                f"SELECT w.workflow_id FROM workflows w WHERE +w.status = 'running' AND {of_types} "
                f"AND w.workflow_id IN ({', '.join('?' * len(ids))}) "
                f"AND (w.owner IS NULL OR w.owner IN ({', '.join('?' * len(held))}))"
            ), params
        owners = f"w.owner IN ({', '.join('?' * len(takeable))})"
        awake = (
            "SELECT w.workflow_id FROM workflows w INDEXED BY workflows_awake_by_owner "
            f"WHERE w.status = 'running' AND w.parked_until_us IS NULL AND {of_types}"
        )
        # Separate searches, not an OR: an OR of owner conditions would scan every running run.
        parts = [f"{awake} AND w.owner IS NULL"]
        params += types
        if takeable:
            parts.append(f"{awake} AND {owners}")
            params += [*types, *takeable]
        parts.append(
            "SELECT w.workflow_id FROM workflows w INDEXED BY workflows_parked_by_wake "
            f"WHERE w.parked_until_us IS NOT NULL AND w.parked_until_us <= ? AND w.status = 'running' "
            f"AND {of_types}"
        )
        params += [self._now_us(), *types]
        parts.append(
            "SELECT w.workflow_id FROM deliveries d JOIN workflows w ON w.workflow_id = d.workflow_id "
            f"WHERE w.parked_until_us IS NOT NULL AND w.status = 'running' AND {of_types}"
        )
        params += types
        candidates = " UNION ALL ".join(parts)
        return f"SELECT w.workflow_id FROM workflows w WHERE w.workflow_id IN ({candidates})", params

    def _takeable_owners(
        self, conn: sqlite3.Connection, owner: str, dead_owners: Collection[str]
    ) -> builtins.list[str]:
        """The owners other than ``owner`` whose runs may be taken: expired leases, ``dead_owners``, and at a
        store object's first claim, owners of running runs that have no lease row."""
        rows = conn.execute("SELECT owner FROM executors WHERE lease_until_us < ?", (self._now_us(),))
        takeable = {row[0] for row in rows} | set(dead_owners)
        if self._data_version is None:
            orphans = conn.execute(
                "SELECT DISTINCT owner FROM workflows INDEXED BY workflows_awake_by_owner WHERE status = 'running' "
                "AND parked_until_us IS NULL AND owner IS NOT NULL AND owner NOT IN (SELECT owner FROM executors)"
            )
            takeable |= {row[0] for row in orphans}
        takeable.discard(owner)
        return sorted(takeable)

    def _claim_in_transaction(self, conn: sqlite3.Connection, owner: str, take: Callable[[], T]) -> T:
        """Renew ``owner``'s lease and ``take`` runs, in one transaction; the first claim sets the baseline of
        :meth:`wait_for_change`."""
        renew = (owner, self._lease_until())
        taken: builtins.list[T] = []

        def work() -> None:
            conn.execute(_RENEW, renew)  # its own lease is live from its first claim on
            taken.append(take())

        _in_transaction(conn, work)
        if self._data_version is None:  # the baseline of wait_for_change: writes after this claim count
            self._data_version = _data_version(conn)
        return taken[0]

    def _load_in(self, conn: sqlite3.Connection, workflow_id: str, op: str) -> WorkflowState | None:
        row = conn.execute("SELECT * FROM workflows WHERE workflow_id = ?", (workflow_id,)).fetchone()
        return None if row is None else self._state_from_row(conn, row, op)

    async def lease_owners(self) -> builtins.list[str]:
        """The owners holding a lease that has not expired."""
        now = self._now_us()

        def read(conn: sqlite3.Connection) -> builtins.list[str]:
            sql = "SELECT owner FROM executors WHERE lease_until_us >= ?"
            return [r[0] for r in conn.execute(sql, (now,)).fetchall()]

        return await self._read("lease_owners", read)

    async def renew_leases(self) -> None:
        """One write whatever the number of runs: the runs name their owner, the owner's row has the expiry."""
        params = (self._require_owner("renew_leases"), self._lease_until())

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(_RENEW, params)

        await self._write("renew_leases", _Write(write))

    async def release_leases(self, workflow_ids: Collection[str] | None = None) -> None:
        owner = self._require_owner("release_leases")
        sql = "UPDATE workflows SET owner = NULL WHERE owner = ?"
        params: builtins.list[Any] = [owner]
        if workflow_ids is not None:
            ids = builtins.list(workflow_ids)
            sql += f" AND workflow_id IN ({', '.join('?' * len(ids))})"
            params += ids

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)
            if workflow_ids is None:
                conn.execute("DELETE FROM executors WHERE owner = ?", (owner,))

        await self._write("release_leases", _Write(write))

    async def post_delivery(self, delivery: Delivery) -> None:
        row = (delivery.id, delivery.workflow_id, delivery.model_dump_json())

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?)", row)

        await self._write("post_delivery", _Write(write))

    async def take_deliveries(self) -> builtins.list[Delivery]:
        owner = self._require_owner("take_deliveries")
        # Also those of runs that ended (or are gone) before their owner took them: whoever finds them first
        # sees the run is over and removes them.
        sql = (
            "SELECT d.body FROM deliveries d LEFT JOIN workflows w ON w.workflow_id = d.workflow_id "
            "WHERE w.owner = ? OR w.workflow_id IS NULL OR w.status != 'running' ORDER BY d.rowid"
        )

        def read(conn: sqlite3.Connection) -> builtins.list[Delivery]:
            return [Delivery.model_validate_json(r[0]) for r in conn.execute(sql, (owner,)).fetchall()]

        return await self._read("take_deliveries", read)

    async def delete_deliveries(self, ids: Collection[str]) -> None:
        rows = [(i,) for i in ids]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM deliveries WHERE id = ?", rows)

        if rows:
            await self._write("delete_deliveries", _Write(write))

    async def wait_for_change(self, timeout: float) -> bool:
        """Poll SQLite's ``data_version`` (it changes when another connection commits) for up to ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            version = await self._read("wait_for_change", _data_version)
            changed = self._data_version is not None and version != self._data_version
            self._data_version = version
            if changed:
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.sleep(min(_CHANGE_POLL_SECONDS, left))

    async def post_reply(self, reply: UpdateReply) -> None:
        now = _to_us(utc_now())
        row = (reply.id, reply.model_dump_json(), now)
        stale = (now - self._keep_reply // timedelta(microseconds=1),)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR IGNORE INTO replies VALUES (?, ?, ?)", row)
            conn.execute("DELETE FROM replies WHERE created_us < ?", stale)

        await self._write("post_reply", _Write(write))

    async def take_reply(self, delivery_id: str) -> UpdateReply | None:
        """Read the reply, and remove it only when there is one (a look that finds none writes nothing)."""

        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT body FROM replies WHERE id = ?", (delivery_id,)).fetchone()
            return None if row is None else str(row[0])

        body = await self._read("take_reply", read)
        if body is None:
            return None

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM replies WHERE id = ?", (delivery_id,))

        await self._write("take_reply", _Write(write))
        return UpdateReply.model_validate_json(body)

    async def watch_run(self, workflow_id: str, delivery_id: str) -> _RunWatch:
        """A watch that looks at ``data_version`` every 100 ms, and at the run and the reply when it moved."""
        watch = _RunWatch(self, (workflow_id, workflow_id, delivery_id))
        await watch.start()
        return watch

    def _require_owner(self, op: str) -> str:
        if self._owner is None:
            raise StoreError(PROVIDER, op, "no owner bound: call bind_owner(owner, lease_timeout) first")
        return self._owner

    def _lease_until(self) -> int:
        return self._now_us() + self._lease_us

    @staticmethod
    def _now_us() -> int:
        """This process's wall clock, as leases are written and compared (the seam clock-jump tests skew)."""
        return _to_us(utc_now())

    @staticmethod
    def _owned_elsewhere(conn: sqlite3.Connection, op: str, workflow_id: str) -> StoreError:
        row = conn.execute("SELECT owner FROM workflows WHERE workflow_id = ?", (workflow_id,)).fetchone()
        return owned_elsewhere(PROVIDER, op, workflow_id, None if row is None else row["owner"])

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- rows -----------------------------------------------------------------------------------------------

    def _header_row(self, state: WorkflowState) -> tuple[Any, ...]:
        """The row of ``state``'s header; owned by the bound owner (with a fresh lease) while it is running."""
        owned = self._owner is not None and not state.status.is_terminal
        return (
            state.workflow_id,
            state.run_id,
            state.workflow_type,
            state.status.value,
            _json(state.input),
            _json(state.result),
            _error_json(state.error),
            _to_us(state.created_at),
            _to_us(state.updated_at),
            None if state.timeout is None else state.timeout // timedelta(microseconds=1),
            self._owner if owned else None,
        )

    @classmethod
    def _state_from_row(cls, conn: sqlite3.Connection, row: sqlite3.Row, op: str) -> WorkflowState:
        try:
            return cls._decode_row(conn, row)
        except ValueError as exc:  # pydantic's ValidationError and json's JSONDecodeError are ValueErrors
            detail = f"decode {row['workflow_id']!r}: stored value is not a workflow state: {exc}"
            raise StoreError(PROVIDER, op, detail) from exc

    @staticmethod
    def _decode_row(conn: sqlite3.Connection, row: sqlite3.Row) -> WorkflowState:
        bodies = conn.execute(
            "SELECT body FROM events WHERE workflow_id = ? ORDER BY id", (row["workflow_id"],)
        ).fetchall()
        return WorkflowState(
            workflow_id=row["workflow_id"],
            run_id=row["run_id"],
            workflow_type=row["workflow_type"],
            status=WorkflowStatus(row["status"]),
            input=json.loads(row["input"]),
            result=json.loads(row["result"]),
            error=None if row["error"] is None else ErrorInfo.model_validate_json(row["error"]),
            history=[HistoryEvent.model_validate_json(b[0]) for b in bodies],
            created_at=_from_us(row["created_us"]),
            updated_at=_from_us(row["updated_us"]),
            timeout=None if row["timeout_us"] is None else timedelta(microseconds=row["timeout_us"]),
        )

    # -- the database thread ----------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            conn.executescript(_SCHEMA)
            _add_new_columns(conn)
            self._conn = conn
        return self._conn

    async def _read(self, op: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open(op)
        async with store_errors(PROVIDER, op):
            return await self._thread.call(lambda: fn(self._connection()))

    async def _write(self, op: str, write: _Write) -> None:
        self._check_open(op)
        done = self._last_commit = _Commit()
        self._pending.append((write, done))
        if not self._committing:
            # Posted from the loop's next turn: the writes of every task that runs in this one join it.
            self._committing = True
            asyncio.get_running_loop().call_soon(self._post_commit)
        try:
            await done
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(PROVIDER, op, f"{exc} ({type(exc).__name__})") from exc

    def _post_commit(self) -> None:
        """Commit the queued writes on the database thread; the writes queued meanwhile go in the next commit."""
        batch, self._pending = self._pending, []
        writes = [w for w, _ in batch]
        loop = self._loop = asyncio.get_running_loop()
        self._thread.post(
            lambda: self._commit(writes),
            loop,
            lambda errors, failure: self._committed(batch, errors, failure),
        )

    def _committed(
        self,
        batch: builtins.list[tuple[_Write, _Commit]],
        errors: builtins.list[Exception | None] | None,
        failure: BaseException | None,
    ) -> None:
        """Tell each write of ``batch`` how its commit went (``failure``: the commit itself raised)."""
        outcomes = errors if errors is not None else [failure] * len(batch)
        for (_, done), error in zip(batch, outcomes, strict=True):
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if self._pending:
            self._post_commit()
        else:
            self._committing = False
            self._release_sync_waiters()  # no commit left to overlap with

    def _commit(self, writes: builtins.list[_Write]) -> builtins.list[Exception | None]:
        """Commit ``writes`` in one transaction; if that fails, each in its own, so one failure spares the rest."""
        conn = self._connection()
        try:
            _in_transaction(conn, lambda: _apply_grouped(conn, writes), self._syncing)
        except Exception as exc:
            if _locked(exc):  # each alone would wait out the busy timeout again
                return [exc] * len(writes)
            if len(writes) == 1 and not isinstance(exc, _HeaderMissing):
                return [exc]
        else:
            return [None] * len(writes)
        return [self._commit_one(conn, write) for write in writes]

    @staticmethod
    def _commit_one(conn: sqlite3.Connection, write: _Write) -> Exception | None:
        try:
            _in_transaction(conn, lambda: write.apply(conn))
        except Exception as exc:
            return exc
        return None

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise StoreError(PROVIDER, op, f"store {self.path!r} is closed")
