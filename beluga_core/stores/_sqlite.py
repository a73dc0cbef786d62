"""SQLiteStore: the embedded durable store (stdlib ``sqlite3``, WAL journal).

Layout: one row per workflow (its header fields) and one row per history event. A step appends its event
rows and updates the header's status columns, so its cost does not depend on the history's length.

All database work runs on one dedicated thread. Writes are group-committed: every write that arrives while
a commit is in flight goes into the next transaction together, so many concurrent workflows share one
fsync. A write's ``await`` returns only after its transaction has committed.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from pydantic_core import to_json

from ..workflow._types import ErrorInfo, HistoryEvent, WorkflowFilter, WorkflowState, WorkflowStatus
from ..workflow.errors import StoreError
from ._base import require_workflow_id, store_errors

PROVIDER = "sqlite"

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], None]

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
    timeout_us    INTEGER
);
CREATE INDEX IF NOT EXISTS workflows_by_status ON workflows (status, created_us);
CREATE INDEX IF NOT EXISTS workflows_by_created ON workflows (created_us);
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
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _json(value: Any) -> str:
    return to_json(value).decode()


def _error_json(error: ErrorInfo | None) -> str | None:
    return None if error is None else error.model_dump_json()


class SQLiteStore:
    """A durable store in one SQLite file.

    Args:
        path: the database file (created if missing). ``":memory:"`` gives a private in-memory database.
        synchronous: SQLite's ``synchronous`` setting. ``"FULL"`` (the default) makes every committed step
            survive a power loss; ``"NORMAL"`` survives a process crash but may lose the last commits on a
            power loss, and is faster.
    """

    def __init__(
        self, path: str | os.PathLike[str] = "beluga.db", *, synchronous: Literal["FULL", "NORMAL"] = "FULL"
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"SQLiteStore: synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.path = os.fspath(path)
        self._synchronous = synchronous
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beluga-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._pending: builtins.list[tuple[Write, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    # -- public API ---------------------------------------------------------------------------------------

    async def save(self, state: WorkflowState) -> None:
        require_workflow_id(PROVIDER, "save", state.workflow_id)
        header = self._header_row(state)
        events = [(state.workflow_id, e.id, e.model_dump_json()) for e in state.history]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO workflows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                header,
            )
            conn.execute("DELETE FROM events WHERE workflow_id = ?", (state.workflow_id,))
            conn.executemany("INSERT INTO events VALUES (?, ?, ?)", events)

        await self._write("save", write)

    async def append(self, state: WorkflowState, new_events: Sequence[HistoryEvent]) -> None:
        """Insert ``new_events`` and update the status columns; the rest of the history is not rewritten."""
        require_workflow_id(PROVIDER, "append", state.workflow_id)
        status_row = (
            state.status.value,
            _json(state.result),
            _error_json(state.error),
            _to_us(state.updated_at),
            state.workflow_id,
            state.run_id,
        )
        events = [(state.workflow_id, e.id, e.model_dump_json()) for e in new_events]

        def write(conn: sqlite3.Connection) -> None:
            updated = conn.execute(
                "UPDATE workflows SET status = ?, result = ?, error = ?, updated_us = ? "
                "WHERE workflow_id = ? AND run_id = ?",
                status_row,
            ).rowcount
            if not updated:
                conn.execute(
                    "INSERT OR REPLACE INTO workflows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self._header_row(state),
                )
            conn.executemany("INSERT INTO events VALUES (?, ?, ?)", events)

        await self._write("append", write)

    async def load(self, workflow_id: str) -> WorkflowState | None:
        def read(conn: sqlite3.Connection) -> WorkflowState | None:
            row = conn.execute("SELECT * FROM workflows WHERE workflow_id = ?", (workflow_id,)).fetchone()
            return None if row is None else self._state_from_row(conn, row, "load")

        return await self._read("load", read)

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
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM workflows WHERE workflow_id = ?", (workflow_id,))
            conn.execute("DELETE FROM events WHERE workflow_id = ?", (workflow_id,))

        await self._write("delete", write)

    async def close(self) -> None:
        """Commit what is pending and close the database. Further calls raise :class:`StoreError`."""
        if self._closed:
            return
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        self._closed = True
        if self._conn is not None:
            conn = self._conn
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
            self._conn = None
        self._thread.shutdown(wait=True)

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- rows -----------------------------------------------------------------------------------------------

    @staticmethod
    def _header_row(state: WorkflowState) -> tuple[Any, ...]:
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
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _read(self, op: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open(op)
        async with store_errors(PROVIDER, op):
            return await asyncio.get_running_loop().run_in_executor(
                self._thread, lambda: fn(self._connection())
            )

    async def _write(self, op: str, write: Write) -> None:
        self._check_open(op)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # Not shielded: a cancelled caller cancels ``done``, while the write itself still commits.
        try:
            await done
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(PROVIDER, op, f"{exc} ({type(exc).__name__})") from exc

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            errors: builtins.list[Exception | None]
            try:
                errors = await loop.run_in_executor(self._thread, self._commit, [w for w, _ in batch])
            except Exception as exc:  # the whole transaction failed: every write in it failed
                errors = [exc] * len(batch)
            for (_, done), error in zip(batch, errors, strict=True):
                if done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    def _commit(self, writes: builtins.list[Write]) -> builtins.list[Exception | None]:
        """Run ``writes`` in one transaction, each in its own savepoint so one failure spares the others."""
        conn = self._connection()
        errors: builtins.list[Exception | None] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                conn.execute("SAVEPOINT w")
                try:
                    write(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO w")
                    errors.append(exc)
                else:
                    errors.append(None)
                conn.execute("RELEASE w")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return errors

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise StoreError(PROVIDER, op, f"store {self.path!r} is closed")
