"""Time skipping while a result is awaited, for every handle of a client of Temporal's test server.

The time-skipping test server keeps its clock locked (real time) until a client unlocks it; it then skips
to the next timer whenever nothing is outstanding. ``WorkflowEnvironment`` unlocks it only around
``result()`` of the handles its own ``start_workflow`` returns, but ``TemporalExecutor``'s handles are made
with ``get_workflow_handle`` (so that a handle looked up by id behaves as one from ``execute``). Every
``result()`` waits for the run's close event with a long poll of its history (``wait_new_event``); this
client interceptor unlocks the clock around each such poll, so time skips exactly while a result is awaited.
"""

from __future__ import annotations

import asyncio

import temporalio.client
import temporalio.service
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.client import (
    FetchWorkflowHistoryEventsInput,
    OutboundInterceptor,
    WorkflowHistoryEventAsyncIterator,
)


class UnlockWhileAwaitingResults(temporalio.client.Interceptor):
    """Unlocks the test server's time skipping around every long poll of a run's history.

    Put it last in the client's interceptors (innermost), and set :attr:`client` to the client built with it:
    the history iterator it returns is the one the client itself would make, with the unlocking added.
    """

    def __init__(self) -> None:
        self.client: temporalio.client.Client | None = None

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self)


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, owner: UnlockWhileAwaitingResults) -> None:
        super().__init__(next)
        self._owner = owner

    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        client = self._owner.client
        if not input.wait_new_event or client is None:
            return super().fetch_workflow_history_events(input)
        return _UnlockedHistory(client, input)


class _UnlockedHistory(WorkflowHistoryEventAsyncIterator):
    """A run's history, each page long-polled with the test server's time skipping unlocked."""

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        service = self._client.test_service
        await service.unlock_time_skipping(UnlockTimeSkippingRequest())
        try:
            await super().fetch_next_page(page_size=page_size)
        finally:
            # Shielded: a result() given up on (its timeout) must still lock the clock again.
            await asyncio.shield(_lock(service))


async def _lock(service: temporalio.service.TestService) -> None:
    await service.lock_time_skipping(LockTimeSkippingRequest())
