"""One DefaultExecutor at a time on a store that cannot hold run leases: the store's executor lock.

On an :class:`~beluga_core.api._protocols.ExclusiveStore` (Kafka, Dapr, Inngest) an executor takes the store's
lock when it starts, and is refused while another executor, in any process, holds it. It renews the lock
every third of its ``lease_timeout`` and releases it when it closes; a process that dies keeps it until it
expires (at once for one on this host whose process is gone, as with leases). An executor that cannot renew
before its lock expires has lost it (another executor may have taken the store over): it stops its runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from datetime import timedelta

from ..api._protocols import ExclusiveStore
from ..api._types import LockHolder
from ..api.errors import InvalidInputError, WorkflowError
from ._leases import _HOST, _is_dead

logger = logging.getLogger("beluga_core.executor")


class ExecutorLock:
    """This executor's hold on an exclusive store's lock, and the task that renews it."""

    def __init__(self, store: ExclusiveStore, lease_timeout: float, on_lost: Callable[[], None]) -> None:
        #: This executor's owner id: host, process id and a random part (two executors in one process differ).
        self.owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._store = store
        self._lease = lease_timeout
        self._timeout = timedelta(seconds=lease_timeout)
        self._on_lost = on_lost
        self._expires = 0.0  # on the event loop's clock: when the lock runs out unless renewed
        self._task: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Take the lock and start renewing it; :class:`InvalidInputError` while another executor holds it.
        Holding it already (a start that failed after taking it, tried again), it does nothing."""
        if self._task is not None and not self._task.done():
            return
        loop = asyncio.get_running_loop()
        asked = loop.time()
        holder = await self._store.acquire_executor_lock(self.owner, self._timeout)
        if holder is not None and _is_dead(holder.owner):
            asked = loop.time()
            holder = await self._store.acquire_executor_lock(self.owner, self._timeout, [holder.owner])
        if holder is not None:
            raise InvalidInputError(refusal(self._store, holder))
        self._expires = asked + self._lease
        self._task = asyncio.create_task(self._keep(), name=f"beluga-executor-lock:{self.owner}")

    async def close(self) -> None:
        """Stop renewing and release the lock (call once the runs here are stopped)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        try:
            await self._store.release_executor_lock(self.owner)
        except WorkflowError as exc:
            logger.warning(
                "executor %s: the executor lock of %r was not released (%s); it expires by itself",
                self.owner,
                self._store,
                exc,
            )

    async def _keep(self) -> None:
        """Renew every third of the lease until cancelled; call ``on_lost`` once the lock is lost."""
        loop = asyncio.get_running_loop()
        wait = self._lease / 3
        while True:
            await asyncio.sleep(wait)
            wait = self._lease / 3
            asked = loop.time()
            why = "the store shows another executor's lock in its place"
            try:
                held = await asyncio.wait_for(
                    self._store.renew_executor_lock(self.owner, self._timeout), self._expires - asked
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store error, a timeout, or a bug: tried again while the lock lasts
                if loop.time() < self._expires:
                    logger.warning(
                        "executor %s: renewing the executor lock failed (%s); trying again",
                        self.owner,
                        exc if isinstance(exc, WorkflowError) else repr(exc),
                    )
                    wait = self._lease / 10
                    continue
                held, why = False, f"it was not renewed within lease_timeout={self._lease:g}s"
            if not held:
                logger.error(
                    "executor %s lost the executor lock of %r (%s; another executor may run the store now): "
                    "it stops its runs, which stay running in the store; start it again once the other "
                    "executor is gone",
                    self.owner,
                    self._store,
                    why,
                )
                self._on_lost()
                return
            self._expires = asked + self._lease


def refusal(store: object, holder: LockHolder) -> str:
    """Why ``store`` refuses another executor while ``holder`` holds its lock, and what to do about it."""
    host, _, rest = holder.owner.partition(":")
    pid = rest.partition(":")[0]
    return (
        f"{store!r} is already run by another DefaultExecutor: executor {holder.owner!r} (process {pid} on "
        f"host {host}) holds its executor lock until {holder.expires_at.isoformat(timespec='seconds')}, and "
        f"only one executor at a time may run a {type(store).__name__}. Stop the other executor (closing it "
        "releases the lock; a process that died on another host keeps it until then), or use a SQLiteStore or a NatsStore, which several executors can share"
    )
