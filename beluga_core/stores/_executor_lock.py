"""The record of an executor lock (:class:`~beluga_core.api._protocols.ExclusiveStore`), shared by the stores
that hold one: who holds it and until when.

A lock record is the JSON object ``{"owner": "<host:pid:random>", "expires_at": <unix seconds>}`` (Kafka's
also carries ``"since"``). The expiry is written in the writer's clock and compared with the reader's, so
the hosts' clocks must agree to well within ``lease_timeout`` (NTP), as for the leases of the shared stores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..api._types import LockHolder


@dataclass(frozen=True)
class LockRecord:
    """One executor's claim on a lock, as stored."""

    owner: str
    expires_at: float  # unix seconds, in the writer's clock
    since: int | None = None  # Kafka only: the offset of the first claim of the owner's unbroken chain

    def live(self, now: float, dead_owners: Collection[str] = ()) -> bool:
        """Unexpired at ``now`` (unix seconds), and not held by an executor known to be gone."""
        return self.expires_at > now and self.owner not in dead_owners

    def holder(self) -> LockHolder:
        return LockHolder(owner=self.owner, expires_at=datetime.fromtimestamp(self.expires_at, timezone.utc))

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"owner": self.owner, "expires_at": self.expires_at}
        if self.since is not None:
            value["since"] = self.since
        return value

    def encode(self) -> bytes:
        return json.dumps(self.to_json()).encode()


def new_claim(owner: str, timeout: timedelta, since: int | None = None) -> LockRecord:
    """``owner``'s claim, expiring ``timeout`` from now."""
    return LockRecord(owner, time.time() + timeout.total_seconds(), since)


def decode_lock(value: Any) -> LockRecord | None:
    """The record in ``value`` (JSON bytes or the parsed object); None for anything that is not one, which
    holds no lock."""
    if isinstance(value, (bytes, str)):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    owner, expires_at, since = value.get("owner"), value.get("expires_at"), value.get("since")
    if not isinstance(owner, str) or not owner or isinstance(expires_at, bool):
        return None
    if not isinstance(expires_at, (int, float)) or not (since is None or type(since) is int):
        return None
    return LockRecord(owner, float(expires_at), since)
