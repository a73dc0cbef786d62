"""The one :class:`SignalChannel` implementation: what ``ctx.receive_signal(name)`` returns on every engine.

The channel checks the signal name and the receive timeout the same way everywhere; the engine supplies only
``receive(name, seconds)``, which takes the oldest buffered payload of that name or waits for one (a durable
wait: recorded by the DefaultExecutor's journal, a Temporal condition on Temporal) and raises
``TimeoutError`` when the timeout runs out first.

A channel opened with a ``payload_type`` decodes every payload the engine returns (JSON data, live and on
replay) with the engine's decode, so both engines and a replay hand the workflow the same typed value. A
payload that does not decode raises :class:`~beluga_core.api.errors.InvalidInputError` from ``receive()``
and is consumed: the workflow can catch the error and go on with the next payload (a poison signal never
blocks the channel).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from ._execution import Decode, check_signal_name, receive_timeout_seconds
from ._serde import from_json

#: An engine's receive primitive: ``(signal name, timeout in seconds or None) -> payload``.
Receive = Callable[[str, "float | None"], Awaitable[Any]]


class SignalChannel:
    """The buffered signals of one name, read by the workflow: FIFO, each payload delivered once."""

    def __init__(
        self,
        workflow_type: str,
        name: str,
        receive: Receive,
        payload_type: Any = None,
        decode: Decode = from_json,
    ) -> None:
        check_signal_name(workflow_type, name)
        self._workflow_type = workflow_type
        self._receive = receive
        self._payload_type = payload_type
        self._decode = decode
        self.name = name

    async def receive(self, timeout: timedelta | float | None = None) -> Any:
        """The next payload, decoded to the channel's payload type if it has one.

        ``TimeoutError`` when ``timeout`` (a durable timer) runs out first; ``InvalidInputError`` naming the
        signal and the type when the payload does not decode (the payload is consumed all the same).
        """
        seconds = receive_timeout_seconds(self._workflow_type, self.name, timeout)
        payload = await self._receive(self.name, seconds)
        if self._payload_type is None:
            return payload
        return self._decode(
            payload,
            self._payload_type,
            what=f"workflow {self._workflow_type!r}: payload of signal {self.name!r}",
        )

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            yield await self.receive()


def no_signal(name: str, seconds: float | None) -> TimeoutError:
    """The error of a receive whose timeout ran out: the same wording on every engine, live and on replay."""
    within = "its timeout" if seconds is None else f"{seconds:g}s"
    return TimeoutError(f"no {name!r} signal within {within}")
