"""The one :class:`SignalChannel` implementation: what ``ctx.receive_signal(name)`` returns on every engine.

The channel checks the signal name and the receive timeout the same way everywhere; the engine supplies only
``receive(name, seconds)``, which takes the oldest buffered payload of that name or waits for one (a durable
wait: recorded by the DefaultExecutor's journal, a Temporal condition on Temporal) and raises
``TimeoutError`` when the timeout runs out first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from ._execution import check_signal_name, receive_timeout_seconds

#: An engine's receive primitive: ``(signal name, timeout in seconds or None) -> payload``.
Receive = Callable[[str, "float | None"], Awaitable[Any]]


class SignalChannel:
    """The buffered signals of one name, read by the workflow: FIFO, each payload delivered once."""

    def __init__(self, workflow_type: str, name: str, receive: Receive) -> None:
        check_signal_name(workflow_type, name)
        self._workflow_type = workflow_type
        self._receive = receive
        self.name = name

    async def receive(self, timeout: timedelta | float | None = None) -> Any:
        """The next payload; ``TimeoutError`` when ``timeout`` (a durable timer) runs out first."""
        seconds = receive_timeout_seconds(self._workflow_type, self.name, timeout)
        return await self._receive(self.name, seconds)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            yield await self.receive()


def no_signal(name: str, seconds: float | None) -> TimeoutError:
    """The error of a receive whose timeout ran out: the same wording on every engine, live and on replay."""
    within = "its timeout" if seconds is None else f"{seconds:g}s"
    return TimeoutError(f"no {name!r} signal within {within}")
