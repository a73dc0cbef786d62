"""Several DefaultExecutor processes on one store: leases, takeover, and deliveries from other processes.

On a :class:`~beluga_core.api._protocols.LeasingStore` every running workflow is owned by one executor at a time
through a lease in the store. An executor claims the runs no live lease holds when it starts and then
periodically (so a dead process's runs are taken over once its leases expire), renews its own leases while it
lives, and releases them when it closes. Writes are fenced by the store: an executor that lost a lease can no
longer append to that run. Signals, cancel requests and updates from processes that do not own a run reach
its owner through the store's inbox (:class:`Delivery`); the owner looks for them whenever another process
writes to the store (``wait_for_change``), so they arrive within a fraction of a second. An update's sender
waits for its outcome in the store (see :mod:`._delivered_updates`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta
from typing import Any

from ..api._protocols import LeasingStore, ParkingStore
from ..api._types import Delivery, ParkedRun, UpdateReply, WorkflowState
from ..api.errors import WorkflowError
from ._delivered_updates import Load, SentUpdate
from ._outage import StoreOutage

logger = logging.getLogger("beluga_core.executor")

#: The longest the loop waits without looking at the store (for expired leases of other processes).
_MAX_IDLE = 1.0
_RETRY_AFTER_ERROR = 1.0
_CANCEL_AGAIN_AFTER = 0.1
#: The shortest time between two claims prompted by changes: while other processes keep writing, the changes
#: in between are claimed together (a claim is a query on SQLite, a read per candidate run on NATS).
_MIN_CLAIM_INTERVAL = 0.1
#: How many runs take their deliveries at once (each may be rehydrated from the store first).
_CONCURRENT_DELIVERIES = 64
#: How many runs the loop claims at a time, so executors sharing a store share new runs too.
_CLAIM_BATCH = 16


_HOST = socket.gethostname()


def _is_dead(owner: str) -> bool:
    """True for the owner id of an executor in a process of this host that no longer exists (it crashed): its
    runs are taken over at once instead of when its leases expire. Owners elsewhere wait for the expiry."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False


class Leases:
    """The leases of one executor on a leasing store, and the loop that keeps, takes over and delivers."""

    def __init__(self, store: LeasingStore, lease_timeout: float, *, worker: bool) -> None:
        #: This executor's owner id: host, process id and a random part (two executors in one process differ).
        self.owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.worker = worker
        self._store = store
        self._lease = lease_timeout
        self._task: asyncio.Task[None] | None = None
        #: Claims by id waiting for the next batch (see :meth:`claim_one`), and the batches under way.
        self._one_claims: dict[str, list[asyncio.Future[WorkflowState | None]]] = {}
        self._claiming: set[asyncio.Task[None]] = set()
        #: The store failing, as this executor sees it (shared with its runs: one warning per outage).
        self.outage = StoreOutage(self.owner)
        if worker:
            store.bind_owner(self.owner, timedelta(seconds=lease_timeout))

    async def claim(
        self,
        workflow_types: Collection[str],
        workflow_ids: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[WorkflowState]:
        """Take the lease of the running runs of ``workflow_types`` that no other live executor holds."""
        if not self.worker:
            return []
        dead = [owner for owner in await self._store.lease_owners() if _is_dead(owner)]
        return await self._store.claim_runs(workflow_types, workflow_ids, dead, limit)

    async def claim_one(self, workflow_types: Collection[str], workflow_id: str) -> WorkflowState | None:
        """Claim ``workflow_id`` (see :meth:`claim`): its state, None when another executor holds it.

        The claims asked for in one turn of the event loop are made in one store call (50 evicted runs
        signalled at once cost one transaction, not 50 in a row).
        """
        future: asyncio.Future[WorkflowState | None] = asyncio.get_running_loop().create_future()
        if not self._one_claims:
            asyncio.get_running_loop().call_soon(self._claim_batch, list(workflow_types))
        self._one_claims.setdefault(workflow_id, []).append(future)
        return await future

    def _claim_batch(self, workflow_types: list[str]) -> None:
        batch, self._one_claims = self._one_claims, {}
        task = asyncio.create_task(self._claim_ids(workflow_types, batch), name="beluga-claim-ids")
        self._claiming.add(task)
        task.add_done_callback(self._claiming.discard)

    async def _claim_ids(
        self, workflow_types: list[str], batch: dict[str, list[asyncio.Future[WorkflowState | None]]]
    ) -> None:
        try:
            claimed = {state.workflow_id: state for state in await self.claim(workflow_types, list(batch))}
        except BaseException as exc:
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for workflow_id, futures in batch.items():
            for future in futures:
                if not future.done():
                    future.set_result(claimed.get(workflow_id))

    async def parked(self, workflow_types: Collection[str]) -> list[ParkedRun]:
        """The parked runs of ``workflow_types`` (on a :class:`ParkingStore`; none on another store)."""
        if not self.worker or not isinstance(self._store, ParkingStore):
            return []
        return await self._store.parked_runs(workflow_types)

    async def post(self, delivery: Delivery) -> None:
        await self._store.post_delivery(delivery)

    async def send_update(self, load: Load, workflow_id: str, name: str, json_arg: Any) -> SentUpdate:
        """Post update ``name`` for the owner of ``workflow_id``'s run (``load``: the store's); its outcome is
        awaited on the result."""
        return await SentUpdate.send(self._store, load, workflow_id, name, json_arg)

    async def forget(self, delivery_ids: Collection[str]) -> None:
        """Remove deliveries from the inbox, applied or not (removing one already gone changes nothing)."""
        await self._store.delete_deliveries(delivery_ids)

    async def reply(self, reply: UpdateReply) -> None:
        """Leave the answer to an update another process sent, for that process."""
        await self._store.post_reply(reply)

    def start(
        self,
        workflow_types: Callable[[], Collection[str]],
        resume: Callable[[WorkflowState], None],
        deliver: Callable[[Delivery], Awaitable[bool]],
    ) -> None:
        """Run the loop: renew, take over expired runs and parked runs with something to do (``resume``
        each), apply deliveries (``deliver``: True once the delivery is done with, to be removed from the inbox)."""
        if self.worker and self._task is None:
            self._task = asyncio.create_task(
                self._loop(workflow_types, resume, deliver), name=f"beluga-leases:{self.owner}"
            )

    async def close(self) -> None:
        """Stop the loop and release every lease (call once the runs here are stopped)."""
        task, self._task = self._task, None
        if task is not None:
            # Cancelled again until it stops: a store's client library may swallow a cancellation (before
            # Python 3.12, asyncio.wait_for does when what it waits for completes at that moment; nats-py
            # waits for every reply with it).
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=_CANCEL_AGAIN_AFTER)
            await asyncio.gather(task, return_exceptions=True)
        if self.worker:
            try:
                await self._store.release_leases()
            except WorkflowError as exc:  # they expire by themselves
                logger.warning(
                    "executor %s: leases not released (%s); they expire by themselves", self.owner, exc
                )

    async def _loop(
        self,
        workflow_types: Callable[[], Collection[str]],
        resume: Callable[[WorkflowState], None],
        deliver: Callable[[Delivery], Awaitable[bool]],
    ) -> None:
        loop = asyncio.get_running_loop()
        renew_every, claim_every = self._lease / 3, self._lease / 2
        next_renew = next_claim = loop.time()
        last_claim = next_claim - _MIN_CLAIM_INTERVAL
        changed = True
        while True:
            try:
                now = loop.time()
                wrote = now >= next_renew
                if wrote:
                    await self._store.renew_leases()
                    next_renew = now + renew_every
                if changed:  # claimed soon, but not once per change while other processes keep writing
                    next_claim = min(next_claim, max(now, last_claim + _MIN_CLAIM_INTERVAL))
                claim_now = now >= next_claim
                if claim_now:
                    claimed = await self.claim(workflow_types(), limit=_CLAIM_BATCH)
                    for state in claimed:
                        logger.debug("executor %s took workflow %s", self.owner, state.workflow_id)
                        resume(state)
                    last_claim, wrote = now, True
                    # A full batch: more may be waiting, for this executor or another one (they share them).
                    next_claim = now if len(claimed) == _CLAIM_BATCH else now + claim_every
                if changed or claim_now:
                    await self._deliver_all(deliver)
                if wrote:
                    self.outage.answered()
                wait = min(next_renew, next_claim) - loop.time()
                changed = await self._store.wait_for_change(max(0.0, min(wait, _MAX_IDLE)))
            except WorkflowError as exc:
                self.outage.failed(
                    logging.WARNING, "executor %s: the store failed (%s); trying again", self.owner, exc
                )
                changed = True
                await asyncio.sleep(_RETRY_AFTER_ERROR)

    async def _deliver_all(self, deliver: Callable[[Delivery], Awaitable[bool]]) -> None:
        """Apply the deliveries of the inbox: in order for each run, the runs concurrently (so one run's store
        writes do not hold up the others'); those done with are removed, even when another one failed."""
        by_run: dict[str, list[Delivery]] = {}
        for delivery in await self._store.take_deliveries():
            by_run.setdefault(delivery.workflow_id, []).append(delivery)
        done: list[str] = []
        limit = asyncio.Semaphore(_CONCURRENT_DELIVERIES)

        async def in_order(deliveries: list[Delivery]) -> None:
            async with limit:
                for delivery in deliveries:
                    if not await deliver(delivery):
                        return  # the later ones wait behind it
                    done.append(delivery.id)

        outcomes = await asyncio.gather(*(in_order(d) for d in by_run.values()), return_exceptions=True)
        await self._store.delete_deliveries(done)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
