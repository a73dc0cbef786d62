"""NatsStore: workflow states in a NATS JetStream key-value bucket (extra ``nats``: ``nats-py``).

One key per workflow, its value the state as JSON. ``list`` reads the latest value of every key in one pass
(a pull consumer over the bucket's stream that delivers the last message per subject, fetched in batches),
never one request per key.

Keys: NATS keys may hold only ``[-/_=.A-Za-z0-9]`` and may not start or end with a dot, so a workflow id is
stored under a reversible escape: ``A-Z a-z 0-9 - _`` stay as they are, every other character becomes ``=XX``
per UTF-8 byte (``order/1`` -> ``order=2F1``). Two ids never share a key, and ids stay readable in
``nats kv ls``.

Key length: nats-server closes a connection that sends a protocol line longer than its ``max_control_line``,
and a key travels in the line, so an id whose key is longer than :func:`max_key_length` of the bucket is
refused with :class:`InvalidInputError` by every operation before anything is sent (see the constants below).

Revision checks (optimistic concurrency): the store remembers, per workflow id, the bucket revision its next
write is based on. It is set the first time this instance sees the id (a ``load``, a ``list`` or its own
first ``save``), advanced by each of its own saves, and forgotten on ``delete`` and on a conflict.

- ``save`` of an id with a remembered revision is ``update(key, value, last=revision)``: if anyone else wrote
  the key since, the save fails with :class:`StoreError` (``conflict``) and the newer state stays intact.
- ``save`` of an id this instance has not seen is ``create``: it fails with a conflict when the key already
  exists, so a fresh instance cannot blindly overwrite a workflow; ``load`` or ``list`` it first.
- A ``load`` or ``list`` does not move a remembered revision: an instance that is writing a workflow cannot be
  rebased onto someone else's newer state by reading it. After a conflict the revision is forgotten, so the
  next ``load`` takes the current one.

This is what the DefaultExecutor needs: it saves the same id again and again from one instance (each save
based on the last), and an executor resuming after a crash first lists or loads the workflows it takes over.
Saves of one id from one instance are serialised, so they never conflict with each other.

Connection: opened on first use (or by :meth:`NatsStore.connect` / ``async with``). A connection the store
opens does not buffer writes while disconnected (``pending_size=0``), so a save that failed during an outage
is never replayed behind the caller's back when the connection comes back; nats-py reconnects on its own, and
if it gives up the store opens a new connection on the next call. A connection passed in as ``conn`` is the
caller's: it is used as configured and never closed by :meth:`NatsStore.close`.

Several processes (:class:`~beluga_core.api._protocols.LeasingStore`): any number of DefaultExecutors may share
a bucket, each with its own store object. Three buckets hold what they share:

- ``<bucket>``: the runs. Every message the store writes carries a ``Beluga-Run`` header naming the run's owner
  (see :mod:`._nats_leases`), so the owner changes in the same revision-checked write as the state. A store
  bound to an owner (:meth:`NatsStore.bind_owner`) writes a running run as its own; every store refuses to
  write over a run whose remembered revision names another owner with a live lease, and a write refused by
  the revision check reports who owns the run now (``is owned by executor ...``). That is the fencing: once
  another executor has taken a run over (one revision-checked write), the old owner's next write of it is
  based on an older revision and is refused, nothing written.
- ``<bucket>_executors``: one key per executor (its owner id, escaped like a workflow id), its value the
  lease's expiry in microseconds since the epoch (the writer's clock). Renewing all of an executor's leases
  is one put, whatever the number of runs it owns. Releasing them writes an expiry of 0; records expired for
  an hour are purged by the next claim of any executor, so they do not pile up.
- ``<bucket>_deliveries``: one key per :class:`Delivery` (its id), its value the delivery as JSON, its
  ``Beluga-Delivery`` header the key of the run it is for. A delivery done with is purged from the stream,
  leaving no delete marker to pile up. The owner's :class:`UpdateReply` to an update delivery is under
  ``reply-<delivery key>`` with a ``Beluga-Reply`` header (the run's key), purged once its sender took it.

A bound store watches the three buckets (ordered push consumers; headers only for runs and deliveries) and
keeps indexes from them: the running runs (owner, type, creation time, revision), the executors' lease
expiries, and the deliveries by run. A claim reads only the runs the index says it may take (each is read
again and taken with a revision-checked write), a take reads only this executor's deliveries, and
:meth:`NatsStore.wait_for_change` wakes when another process wrote something this executor may act on: a new or
released run, or a delivery. No polling. A sender waiting for an update's outcome watches the run's key and
the reply's key through the same watches (:meth:`NatsStore.watch_run`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import re
import ssl
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import (
    AuthorizationError,
    OutboundBufferLimitError,
    SecureConnFailedError,
    SecureConnRequiredError,
    SecureConnWantedError,
)
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, KeyValueConfig
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)

from ..api._types import Delivery, UpdateReply, WorkflowFilter, WorkflowState, utc_now
from ..api.errors import InvalidInputError, OwnedElsewhereError, StoreError
from ._base import (
    KEEP_UNTAKEN_REPLY,
    CredentialsRefused,
    TlsFailed,
    apply_filter,
    check_one_owner,
    encode_state,
    owned_elsewhere,
    store_errors,
)
from ._nats_leases import (
    DELIVERY_HEADER,
    EXPECTED_LAST,
    REPLY_HEADER,
    RUN_HEADER,
    RunMeta,
    Watch,
    header_of,
    lease_record,
    lease_until,
    meta_of,
    meta_of_state,
    removed,
    reply_key,
    to_us,
)
from ._remote import RemoteStore, decode_stored_state, require_key_id
from ._secrets import Secrets, redact_url, url_secrets, url_user

PROVIDER = "nats"

_log = logging.getLogger(__name__)
_LIST_BATCH = 1000

_BUCKET_RE = re.compile(r"[A-Za-z0-9_-]+")
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_KEY_RE = re.compile(r"(?:[A-Za-z0-9_-]|=[0-9A-F]{2})+")
_ESCAPE_RE = re.compile(rb"=([0-9A-F]{2})")

# How long a key may be. nats-server reads a protocol line of at most ``max_control_line`` bytes (4096 by
# default, counted after the verb, without the CRLF); a longer one makes it close the connection ("maximum
# control line exceeded"), which fails every call in flight on it, other workflows' included. The longest
# line the store sends for a key is a direct get, on a bucket with ``allow_direct`` (``nats kv add`` makes
# those; this store's own buckets have it off and read keys from a request body instead):
#     PUB $JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key> <reply> <size>
# Saves and deletes send ``HPUB $KV.<bucket>.<key> <reply> <header size> <total size>``, which is shorter.
# ``<reply>`` is nats-py's request inbox ``<inbox_prefix>.<22-char NUID>.<22-char NUID><4 hex digits>``
# (56 bytes with the default prefix ``_INBOX``). The sizes get room for two fields of 8 digits, since the
# server caps ``max_payload`` at 64 MiB. So a key may take 4096 - 61 - 56 - 18 = 3961 bytes with the default
# bucket ``beluga_workflows`` (16 characters). Measured on nats-server 2.15, the exact limits there are 3977
# for that direct get and about 4010 for a save (it depends on the state's size); tests/stores/test_nats.py
# checks that the longest allowed key works on the real server.
MAX_CONTROL_LINE = 4096
_REPLY_BESIDES_PREFIX = len(".") + 22 + len(".") + 22 + 4
_SIZE_FIELDS = 2 * len(" 67108864")
DEFAULT_INBOX_PREFIX = "_INBOX"


def max_key_length(bucket: str, inbox_prefix: str = DEFAULT_INBOX_PREFIX) -> int:
    """The longest key (in bytes) whose every request fits in nats-server's default control line."""
    longest_subject = f"$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}."
    reply = len(inbox_prefix) + _REPLY_BESIDES_PREFIX
    return MAX_CONTROL_LINE - len(longest_subject) - len(" ") - reply - _SIZE_FIELDS


MAX_KEY_LENGTH = max_key_length("beluga_workflows")


def encode_key(workflow_id: str) -> str:
    """The bucket key of ``workflow_id``: plain characters kept, every other one as ``=XX`` per UTF-8 byte."""
    return "".join(ch if ch in _PLAIN else "".join(f"={b:02X}" for b in ch.encode()) for ch in workflow_id)


def decode_key(key: str) -> str:
    """The workflow id stored under ``key``; ``ValueError`` for a key :func:`encode_key` cannot make."""
    if not _KEY_RE.fullmatch(key):
        raise ValueError(f"key {key!r} is not an encoded workflow id")
    workflow_id = _ESCAPE_RE.sub(lambda m: bytes.fromhex(m[1].decode()), key.encode()).decode()
    if encode_key(workflow_id) != key:
        raise ValueError(f"key {key!r} is not in canonical encoding")
    return workflow_id


class NatsStore(RemoteStore):
    """Workflow states in a JetStream KV bucket, created when missing.

    Args:
        url: the NATS server(s) to connect to (ignored when ``conn`` is given).
        bucket: the KV bucket name (``A-Z a-z 0-9 _ -``).
        conn: an already connected ``nats.aio.client.Client`` to use instead; the store does not close it.
        timeout: seconds to wait for any JetStream request (and for each update while listing).
        connect_options: extra keyword arguments for ``nats.connect``: credentials (``user``/``password``,
            ``token``, ``nkeys_seed_str``, ``user_credentials``), ``tls`` (an ``ssl.SSLContext``),
            ``max_reconnect_attempts``, ...

    Credentials may also be in the URL (``nats://user:password@host:port``, ``nats://token@host:port``).
    They never appear in errors, log records or ``repr()``: the URL is shown as ``nats://user:***@host``.
    Refused credentials and TLS failures fail the connection at once with a :class:`StoreError` saying so.

    Several DefaultExecutor processes may share the bucket, each with a store object of its own (see the
    module docstring): the executors bucket and the deliveries bucket next to it are created when first used.
    """

    provider = PROVIDER
    library_loggers = ("nats",)
    #: How long an update reply nobody took stays in the deliveries bucket.
    _keep_reply = KEEP_UNTAKEN_REPLY

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        bucket: str = "beluga_workflows",
        conn: Any = None,
        *,
        timeout: float = 5.0,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not _BUCKET_RE.fullmatch(bucket):
            raise ValueError(f"NatsStore: bucket must match [A-Za-z0-9_-]+, got {bucket!r}")
        super().__init__()
        self.url = url
        self.bucket = bucket
        #: The buckets of the executors' leases and of the deliveries, next to the runs' bucket.
        self.executors_bucket = f"{bucket}_executors"
        self.deliveries_bucket = f"{bucket}_deliveries"
        self._timeout = timeout
        self._connect_options = dict(connect_options or {})
        self._nc: Any = conn
        self._owns_conn = conn is None
        self._js: Any = None
        self._kv: Any = None
        self._side_buckets: dict[str, Any] = {}
        #: Per workflow id, the revision its next write is based on and the owner the run had at it.
        self._bases: dict[str, _Base] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # the longest key this store sends; a longer one is refused (see MAX_CONTROL_LINE)
        inbox = _inbox_prefix(conn, self._connect_options)
        self.max_key_length = max_key_length(bucket, inbox)
        self._side_key_length = max_key_length(self.deliveries_bucket, inbox)
        #: The executor whose writes this store object fences (see :meth:`bind_owner`), and its lease length.
        self._owner: str | None = None
        self._lease_us = 0
        #: Names this store object in the header of every run it writes, so its watch can skip its own writes.
        self._writer = uuid.uuid4().hex[:16]
        self._watches: dict[str, Watch] = {}  # by bucket
        self._watch_reconnects = 0  # the connection's reconnect count when they started
        self._watch_lock = asyncio.Lock()
        #: From the watches: the running runs by key (a revision alone: a value without a run header), and the
        #: lease expiry of each executor.
        self._running: dict[str, RunMeta | int] = {}
        self._leases: dict[str, int] = {}
        #: From the watch of the deliveries bucket: each delivery's revision and the key of its run (None when
        #: its header is missing), and the deliveries of each run's key.
        self._deliveries: dict[str, tuple[int, str | None]] = {}
        self._deliveries_of: dict[str, set[str]] = {}
        #: From the same watch: when each update reply in the bucket was posted (to remove those nobody took).
        self._replies: dict[str, datetime] = {}
        self._changed = asyncio.Event()
        #: The events of the run watches (see :meth:`watch_run`), by the key they watch (of a run or a reply).
        self._watchers: dict[str, set[asyncio.Event]] = {}
        #: Per key, the revision of a value that cannot be decoded, already logged.
        self._reported: dict[str, int] = {}
        for secret in url_secrets(url, bare_user_is_secret=True):
            self._secrets.add(secret)
        for option in _SECRET_OPTIONS:
            value = self._connect_options.get(option)
            if isinstance(value, (str, bytes)):
                self._secrets.add(value)
        self._guard_secrets()

    def __repr__(self) -> str:
        server = "conn=<caller's connection>" if not self._owns_conn else f"url={self.shown_url!r}"
        return f"NatsStore({server}, bucket={self.bucket!r})"

    @property
    def shown_url(self) -> str:
        """The URL with any password or token shown as ``***``."""
        return redact_url(self.url, bare_user_is_secret=True)

    # -- WorkflowStore --

    async def save(self, state: WorkflowState) -> None:
        """Write ``state`` under the revision checks described in the module docstring."""
        payload = encode_state(PROVIDER, state)
        key = self._key("save", state.workflow_id)
        await self._ready("save")
        async with self._lock_for(state.workflow_id):
            await self._write(state, key, payload)

    async def create_run(self, state: WorkflowState) -> bool:
        """Save a new run unless the stored workflow of its id is running: then save nothing, return False.

        Each attempt is one revision-checked write (a create, or an update of the finished run or delete marker
        it read), so no other writer can slip in between the check and the write.
        """
        payload = encode_state(PROVIDER, state)
        key = self._key("create_run", state.workflow_id)
        await self._ready("create_run")
        owner = self._owner if not state.status.is_terminal else None
        header = header_of(state, owner, self._writer)
        async with self._lock_for(state.workflow_id), _nats_errors("create_run", "create", self._secrets):
            last = 0
            for _ in range(_CREATE_ATTEMPTS):
                try:
                    revision = await self._publish(self.bucket, key, payload, last=last, header=header)
                except KeyWrongLastSequenceError:
                    current = await self._current(key)
                    if current is None:
                        last = 0
                        continue
                    if not current.removed and self._meta("create_run", state.workflow_id, current).running:
                        return False
                    last = current.revision
                    continue
                self._wrote(state.workflow_id, key, revision, owner, header)
                return True
        raise self._error(
            "create_run",
            f"conflict: workflow {state.workflow_id!r} was written by others {_CREATE_ATTEMPTS} times while it "
            "was being started; nothing was written",
        )

    async def load(self, workflow_id: str) -> WorkflowState | None:
        key = self._key("load", workflow_id)
        await self._ready("load")
        async with _nats_errors("load", "get", self._secrets):
            current = await self._current(key)
        if current is None or current.removed:
            return None
        state = decode_stored_state(PROVIDER, "load", current.value, workflow_id)
        self._bases.setdefault(workflow_id, _Base(current.revision, current.owner))
        return state

    async def list(self, filter: WorkflowFilter | None = None) -> builtins.list[WorkflowState]:
        """Every state in the bucket, read in one pass over the latest values, then filtered."""
        await self._ready("list")
        states: builtins.list[WorkflowState] = []
        for entry in await _latest_entries(self._js, self.bucket, self._timeout, self._secrets):
            workflow_id = self._workflow_id("list", entry.key)
            states.append(decode_stored_state(PROVIDER, "list", entry.value, workflow_id))
            meta = meta_of(entry.headers, entry.revision)
            self._bases.setdefault(workflow_id, _Base(entry.revision, None if meta is None else meta.owner))
        return apply_filter(states, filter)

    async def delete(self, workflow_id: str) -> None:
        key = self._key("delete", workflow_id)
        await self._ready("delete")
        async with self._lock_for(workflow_id):
            async with _nats_errors("delete", "delete", self._secrets):
                await self._kv.delete(key)
            self._bases.pop(workflow_id, None)
            self._running.pop(key, None)

    # -- several processes (LeasingStore) --

    def bind_owner(self, owner: str, lease_timeout: timedelta) -> None:
        """Fence this object's writes of runs by ``owner`` (see :class:`~beluga_core.api._protocols.LeasingStore`).

        One owner per store object: give each DefaultExecutor its own ``NatsStore`` (on the same bucket).
        """
        check_one_owner(self, f"bucket {self.bucket!r}", self._owner, owner, "bucket")
        if not isinstance(owner, str) or not owner or len(encode_key(owner)) > self._side_key_length:
            raise InvalidInputError(
                f"NatsStore.bind_owner: owner must be a short non-empty string, got {owner!r}"
            )
        self._owner = owner
        self._lease_us = lease_timeout // timedelta(microseconds=1)

    async def claim_runs(
        self,
        workflow_types: Collection[str],
        workflow_ids: Collection[str] | None = None,
        dead_owners: Collection[str] = (),
        limit: int | None = None,
    ) -> builtins.list[WorkflowState]:
        """Take the runs no other live lease holds, each with one revision-checked write of its owner.

        Without ``workflow_ids`` the candidates come from the index the watch keeps (no read of the bucket);
        each is read again before it is taken, and a write refused because someone wrote it meanwhile is
        skipped (another executor took it first).
        """
        owner = self._require_owner("claim_runs")
        types = set(workflow_types)
        if not types or (workflow_ids is not None and not workflow_ids):
            return []
        keys = None if workflow_ids is None else [self._key("claim_runs", i) for i in workflow_ids]
        await self._ready("claim_runs")
        # Its own lease is live from its first claim on (renewed here only once a third of it has passed: the
        # executor claims on every change another process makes).
        if self._leases.get(owner, 0) < self._now_us() + self._lease_us * 2 // 3:
            await self._renew("claim_runs")
        dead = set(dead_owners)
        if keys is None:
            await self._watching("claim_runs")
            now = self._now_us()
            await self._forget_leases(now)
            candidates = [k for k, seen in self._running.items() if self._may_take(k, seen, types, dead, now)]
        else:
            candidates = keys
        candidates.sort(key=lambda k: _created_us(self._running.get(k)))
        claim = _Claim(owner, types, dead, by_id=keys is not None)
        states: builtins.list[WorkflowState] = []
        while candidates and (limit is None or len(states) < limit):
            # As many at once as are still wanted: each is a read and a write, and most claims succeed.
            wanted = len(candidates) if limit is None else limit - len(states)
            batch, candidates = candidates[:wanted], candidates[wanted:]
            outcomes = await asyncio.gather(
                *(self._claim_one(key, claim) for key in batch), return_exceptions=True
            )
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            states += [o for o in outcomes if isinstance(o, WorkflowState)]
            if failures and not states:
                raise failures[0]
            if (
                failures
            ):  # the runs taken are returned (or nobody would run them); the others wait for the next
                _log.warning(
                    "nats/claim_runs: %d of the runs could not be claimed: %s", len(failures), failures[0]
                )
                break
        return states

    async def lease_owners(self) -> builtins.list[str]:
        """The owners holding a lease that has not expired (from the watch of the executors bucket)."""
        await self._ready("lease_owners")
        await self._watching("lease_owners")
        now = self._now_us()
        return sorted(owner for owner, until in self._leases.items() if until >= now)

    async def renew_leases(self) -> None:
        """One put of this executor's lease record, whatever the number of runs it owns."""
        self._require_owner("renew_leases")
        await self._ready("renew_leases")
        await self._renew("renew_leases")

    async def release_leases(self, workflow_ids: Collection[str] | None = None) -> None:
        """Write each run this executor owns (of ``workflow_ids``, else all) as unowned; with all of them, also
        remove its lease record."""
        owner = self._require_owner("release_leases")
        if workflow_ids is not None:
            keys = {self._key("release_leases", i) for i in workflow_ids}
        else:
            keys = {
                k for k, seen in self._running.items() if isinstance(seen, RunMeta) and seen.owner == owner
            }
            keys |= {encode_key(i) for i, base in self._bases.items() if base.owner == owner}
        await self._ready("release_leases")
        outcomes = await asyncio.gather(
            *(self._release_one(key) for key in sorted(keys)), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        if workflow_ids is None:
            # An expired record rather than none: the other executors' watches see it at once (a purge they
            # would not see). Claims purge it later, with every record expired long ago.
            kv = await self._side_bucket("release_leases", self.executors_bucket)
            async with _nats_errors("release_leases", "release", self._secrets):
                await kv.put(encode_key(owner), lease_record(owner, 0, self._lease_us))
            self._leases[owner] = 0

    async def post_delivery(self, delivery: Delivery) -> None:
        """Create the delivery's key in the deliveries bucket (a second post of the same id changes nothing).

        Its ``Beluga-Delivery`` header names the run's key, so the owners' watches know whose it is."""
        key = self._side_key("post_delivery", delivery.id)
        await self._post_once("post_delivery", key, delivery, delivery.workflow_id, DELIVERY_HEADER)

    async def _post_once(
        self, op: str, key: str, value: Delivery | UpdateReply, workflow_id: str, header: str
    ) -> None:
        """Create ``key`` in the deliveries bucket with ``value`` and the run's key in ``header``, unless it
        exists (a second post changes nothing)."""
        await self._ready(op)
        await self._side_bucket(op, self.deliveries_bucket)
        payload, run_key = value.model_dump_json().encode(), encode_key(workflow_id)
        async with _nats_errors(op, "create", self._secrets):
            with contextlib.suppress(KeyWrongLastSequenceError):
                await self._publish(self.deliveries_bucket, key, payload, last=0, header=run_key, name=header)

    async def take_deliveries(self) -> builtins.list[Delivery]:
        """The deliveries of runs this executor owns, oldest first: found in the index its watch keeps of the
        deliveries bucket (each delivery's header names its run), then read, one get each. Also those of runs
        that are not running (they ended before their owner took them): whoever finds them first removes them
        (the executor sees the run is over)."""
        owner = self._require_owner("take_deliveries")
        await self._ready("take_deliveries")
        await self._watching("take_deliveries")
        owned = {k for k, seen in self._running.items() if isinstance(seen, RunMeta) and seen.owner == owner}

        def for_here(run_key: str | None) -> bool:
            return run_key is None or run_key in owned or run_key not in self._running

        mine = sorted(
            (revision, key) for key, (revision, run_key) in self._deliveries.items() if for_here(run_key)
        )
        if not mine:
            return []
        kv = await self._side_bucket("take_deliveries", self.deliveries_bucket)
        async with _nats_errors("take_deliveries", "get", self._secrets):
            read = await asyncio.gather(*(self._delivery(kv, key) for _, key in mine))
        return [d for d in read if d is not None and for_here(encode_key(d.workflow_id))]

    async def _delivery(self, kv: Any, key: str) -> Delivery | None:
        """The delivery under ``key``; None when it is gone (taken and purged by a previous owner of its run)."""
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            self._forget_delivery(key)
            return None
        try:
            return Delivery.model_validate_json(entry.value or b"")
        except ValueError as exc:
            detail = f"bucket {self.deliveries_bucket!r}: key {key!r} is not a delivery: {exc}"
            raise self._error("take_deliveries", detail) from exc

    async def delete_deliveries(self, ids: Collection[str]) -> None:
        """Purge each delivery's key from the stream: no delete marker is left behind to pile up."""
        keys = [self._side_key("delete_deliveries", i) for i in ids]
        if not keys:
            return
        await self._ready("delete_deliveries")
        await self._side_bucket("delete_deliveries", self.deliveries_bucket)
        await self._purge_side_keys("delete_deliveries", keys)
        for key in keys:
            self._forget_delivery(key)

    async def _purge_side_keys(self, op: str, keys: Collection[str]) -> None:
        """Purge ``keys`` of the deliveries bucket from its stream: no delete marker is left to pile up."""
        stream, prefix = f"KV_{self.deliveries_bucket}", f"$KV.{self.deliveries_bucket}."
        async with _nats_errors(op, "purge", self._secrets):
            await asyncio.gather(*(self._js.purge_stream(stream, subject=prefix + key) for key in keys))

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for another process to write something this executor may act on: a
        run that is new or released (running, unowned or its own), or a delivery. No polling: the watches of
        the buckets wake it. Changes since the last call count (nothing is missed between calls)."""
        await self._ready("wait_for_change")
        await self._watching("wait_for_change")
        return await _wait_and_clear(self._changed, timeout)

    async def post_reply(self, reply: UpdateReply) -> None:
        """Create the reply's key beside its delivery's (a second reply to the same delivery changes nothing),
        and purge the replies nobody took that are older than a day (their senders went away)."""
        key = reply_key(self._side_key("post_reply", reply.id))
        await self._post_once("post_reply", key, reply, reply.workflow_id, REPLY_HEADER)
        await self._watching("post_reply")  # its watch of the bucket knows when each reply was posted
        stale_before = utc_now() - self._keep_reply
        stale = [k for k, posted in self._replies.items() if posted < stale_before and k != key]
        if stale:  # replies whose senders went away: nobody will take them
            await self._purge_side_keys("post_reply", stale)
            for k in stale:
                self._replies.pop(k, None)

    async def take_reply(self, delivery_id: str) -> UpdateReply | None:
        """Read the reply's key; purge it when it holds one."""
        key = reply_key(self._side_key("take_reply", delivery_id))
        await self._ready("take_reply")
        kv = await self._side_bucket("take_reply", self.deliveries_bucket)
        async with _nats_errors("take_reply", "get", self._secrets):
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                return None
        try:
            reply = UpdateReply.model_validate_json(entry.value or b"")
        except ValueError as exc:
            detail = f"bucket {self.deliveries_bucket!r}: key {key!r} is not an update reply: {exc}"
            raise self._error("take_reply", detail) from exc
        await self._purge_side_keys("take_reply", [key])
        self._replies.pop(key, None)
        return reply

    async def watch_run(self, workflow_id: str, delivery_id: str) -> _RunWatch:
        """A watch woken by the store's watches of the buckets: any message on the run's key or the reply's."""
        keys = (self._key("watch_run", workflow_id), reply_key(self._side_key("watch_run", delivery_id)))
        await self._ready("watch_run")
        watch = _RunWatch(self, keys)
        try:
            await self._watching("watch_run")
        except BaseException:
            watch.close()
            raise
        return watch

    def _wake(self, key: str) -> None:
        for event in self._watchers.get(key, ()):
            event.set()

    # -- writes and reads --

    async def _write(self, state: WorkflowState, key: str, payload: bytes) -> None:
        """Create or update the key against the remembered revision, fenced by the owner it had there."""
        workflow_id = state.workflow_id
        base = self._bases.get(workflow_id)
        if base is not None and base.owner is not None and base.owner != self._owner:
            async with _nats_errors("save", "lease", self._secrets):
                held = await self._lease_live("save", base.owner)
            if held:
                raise self._owned_elsewhere("save", workflow_id, base.owner)
        owner = self._owner if not state.status.is_terminal else None
        header = header_of(state, owner, self._writer)
        verb = "create" if base is None else "update"
        async with _nats_errors("save", verb, self._secrets):
            try:
                if base is None:
                    revision = await self._create(key, payload, header)
                else:
                    revision = await self._publish(
                        self.bucket, key, payload, last=base.revision, header=header
                    )
            except KeyWrongLastSequenceError as exc:
                self._bases.pop(workflow_id, None)
                raise await self._refused("save", workflow_id, key, base, exc) from exc
        self._wrote(workflow_id, key, revision, owner, header)

    async def _create(self, key: str, payload: bytes, header: str) -> int:
        """Write a key that must not hold a value: missing, or a delete marker (as nats-py's ``create``)."""
        try:
            return await self._publish(self.bucket, key, payload, last=0, header=header)
        except KeyWrongLastSequenceError:
            current = await self._current(key)
            if current is None or not current.removed:
                raise
            return await self._publish(self.bucket, key, payload, last=current.revision, header=header)

    async def _publish(
        self, bucket: str, key: str, payload: bytes, *, last: int, header: str, name: str = RUN_HEADER
    ) -> int:
        """One message on the key with the header ``name: header``, accepted only if the key's last revision is
        ``last`` (0: no message)."""
        headers = {EXPECTED_LAST: str(last), name: header}
        try:
            ack = await self._js.publish(f"$KV.{bucket}.{key}", payload, headers=headers)
        except APIError as exc:
            if exc.err_code in _WRONG_LAST_SEQUENCE:
                raise KeyWrongLastSequenceError(description=exc.description) from exc
            raise
        return int(ack.seq)

    async def _current(self, key: str) -> _Current | None:
        """The latest message of ``key`` (headers included), or None when it has none."""
        try:
            msg = await self._js.get_msg(
                f"KV_{self.bucket}", subject=f"$KV.{self.bucket}.{key}", direct=self._direct
            )
        except NotFoundError:
            return None
        headers = msg.headers or {}
        revision = int(msg.seq)
        return _Current(revision, removed(headers), meta_of(headers, revision), msg.data or b"")

    def _meta(self, op: str, workflow_id: str, current: _Current) -> RunMeta:
        """What ``current`` says of its run: its header, else what its state says (then it has no owner)."""
        if current.meta is not None:
            return current.meta
        return meta_of_state(decode_stored_state(PROVIDER, op, current.value, workflow_id), current.revision)

    def _wrote(self, workflow_id: str, key: str, revision: int, owner: str | None, header: str) -> None:
        """Remember a write of this store object (before its own watch reports it)."""
        self._bases[workflow_id] = _Base(revision, owner)
        self._seen_run(key, revision, meta_of({RUN_HEADER: header}, revision))

    async def _refused(
        self, op: str, workflow_id: str, key: str, base: _Base | None, exc: Exception
    ) -> StoreError:
        """The error of a write refused by the revision check: who owns the run now, if another executor."""
        try:
            current = await self._current(key)
        except Exception:  # the conflict is what the caller needs to know; who caused it is a detail
            current = None
        holder = None
        if current is not None and not current.removed and current.meta is not None:
            holder = current.meta.owner
        if holder is not None and holder != self._owner:
            return self._owned_elsewhere(op, workflow_id, holder)
        if self._owner is not None and base is not None and base.owner == self._owner:
            detail = (
                f"workflow {workflow_id!r} is no longer owned by executor {self._owner!r}: another process "
                f"wrote it since revision {base.revision} (this one lost its lease): nothing was written"
            )
            return OwnedElsewhereError(PROVIDER, op, workflow_id, holder, detail)
        return self._error(op, _conflict(workflow_id, None if base is None else base.revision, exc))

    def _owned_elsewhere(self, op: str, workflow_id: str, holder: str) -> StoreError:
        return owned_elsewhere(PROVIDER, op, workflow_id, holder)

    # -- leases --

    def _require_owner(self, op: str) -> str:
        if self._owner is None:
            raise self._error(op, "no owner bound: call bind_owner(owner, lease_timeout) first")
        return self._owner

    @staticmethod
    def _now_us() -> int:
        return to_us(utc_now())

    async def _renew(self, op: str) -> None:
        owner = self._require_owner(op)
        until = self._now_us() + self._lease_us
        kv = await self._side_bucket(op, self.executors_bucket)
        async with _nats_errors(op, "renew", self._secrets):
            await kv.put(encode_key(owner), lease_record(owner, until, self._lease_us))
        self._leases[owner] = until

    async def _lease_live(self, op: str, owner: str) -> bool:
        """Whether ``owner``'s lease has not expired, read from its lease record now (not from the watch)."""
        kv = await self._side_bucket(op, self.executors_bucket)
        try:
            entry = await kv.get(encode_key(owner))
        except KeyNotFoundError:
            return False
        until = lease_until(entry.value)
        self._leases[owner] = until
        return until >= self._now_us()

    async def _forget_leases(self, now: int) -> None:
        """Purge the lease records that expired more than an hour ago (released, or left by a crash)."""
        stale = [owner for owner, until in self._leases.items() if until < now - _FORGET_LEASE_US]
        if not stale:
            return
        stream, prefix = f"KV_{self.executors_bucket}", f"$KV.{self.executors_bucket}."
        async with _nats_errors("claim_runs", "purge", self._secrets):
            for owner in stale:
                await self._js.purge_stream(stream, subject=prefix + encode_key(owner))
                self._leases.pop(owner, None)

    def _may_take(self, key: str, seen: RunMeta | int, types: set[str], dead: set[str], now: int) -> bool:
        """Whether the index says a run may be taken (it is read again before it is)."""
        if not isinstance(seen, RunMeta):
            return self._reported.get(key) != seen  # a value without a run header: read it to know (once)
        if not seen.running or seen.workflow_type not in types or seen.owner == self._owner:
            return False
        return seen.owner is None or seen.owner in dead or self._leases.get(seen.owner, 0) < now

    async def _claim_one(self, key: str, claim: _Claim) -> WorkflowState | None:
        """Take the run of ``key`` if it may be taken; its state then."""
        workflow_id = self._workflow_id("claim_runs", key)
        async with self._lock_for(workflow_id), _nats_errors("claim_runs", "claim", self._secrets):
            current = await self._current(key)
            if current is None or current.removed:
                self._running.pop(key, None)
                return None
            try:
                meta = self._meta("claim_runs", workflow_id, current)
                state = decode_stored_state(PROVIDER, "claim_runs", current.value, workflow_id)
            except StoreError as exc:  # skipped, not raised: one corrupt run must not stop every claim
                self._unreadable(key, current.revision, exc)
                return None
            self._seen_run(key, current.revision, meta)
            if not meta.running or meta.workflow_type not in claim.types:
                return None
            holder = meta.owner
            if holder == claim.owner and not claim.by_id:
                return None
            if holder is not None and holder != claim.owner and holder not in claim.dead:
                if holder not in claim.live:
                    claim.live[holder] = await self._lease_live("claim_runs", holder)
                if claim.live[holder]:
                    return None
            header = meta.header(claim.owner, self._writer)
            try:
                revision = await self._publish(
                    self.bucket, key, current.value, last=current.revision, header=header
                )
            except KeyWrongLastSequenceError:
                return None  # written meanwhile: taken by another executor, or changed; the next claim sees
            self._wrote(workflow_id, key, revision, claim.owner, header)
            return state

    def _unreadable(self, key: str, revision: int, exc: StoreError) -> None:
        """Log a run whose stored value cannot be decoded, once per revision; claims leave it alone."""
        self._running[key] = revision
        if self._reported.get(key) != revision:
            self._reported[key] = revision
            _log.warning("NatsStore: not claimed, its stored value cannot be read: %s", exc)

    async def _release_one(self, key: str) -> None:
        """Write the run of ``key`` as unowned if this executor still owns it."""
        workflow_id = self._workflow_id("release_leases", key)
        async with self._lock_for(workflow_id), _nats_errors("release_leases", "release", self._secrets):
            current = await self._current(key)
            if (
                current is None
                or current.removed
                or current.meta is None
                or current.meta.owner != self._owner
            ):
                return
            header = current.meta.header(None, self._writer)
            try:
                revision = await self._publish(
                    self.bucket, key, current.value, last=current.revision, header=header
                )
            except KeyWrongLastSequenceError:
                return  # written meanwhile by someone else: not this executor's to release
            self._wrote(workflow_id, key, revision, None, header)

    # -- watches --

    async def _watching(self, op: str) -> None:
        """Start the watches of the three buckets (once per connection) and wait until they have caught up.

        After a reconnect they are started again: the server may have restarted and lost their consumers, which
        nats-py would only notice after two missed heartbeats (10 s). That counts as a change: whatever was
        written meanwhile has not woken :meth:`wait_for_change`.
        """
        reconnects = self._nc.stats["reconnects"]
        fresh = reconnects == self._watch_reconnects
        if fresh and self._watches and all(w.caught_up.is_set() for w in self._watches.values()):
            return
        async with self._watch_lock:
            if self._watches and self._nc.stats["reconnects"] != self._watch_reconnects:
                await self._stop_watches()
                self._changed.set()
            if not self._watches:
                self._watch_reconnects = self._nc.stats["reconnects"]
                async with _nats_errors(op, "watch", self._secrets):
                    try:
                        await self._start_watches(op)
                    except BaseException:
                        await self._stop_watches()
                        raise
        waits = [asyncio.ensure_future(w.caught_up.wait()) for w in self._watches.values()]
        try:
            _, pending = await asyncio.wait(waits, timeout=self._timeout)
        finally:
            for wait in waits:
                wait.cancel()
        if pending:
            raise self._error(op, f"watch: the buckets were not read within {self._timeout}s")

    async def _start_watches(self, op: str) -> None:
        specs = [
            (self.bucket, self._on_run, DeliverPolicy.LAST_PER_SUBJECT, True),
            (self.executors_bucket, self._on_lease, DeliverPolicy.LAST_PER_SUBJECT, False),
            (self.deliveries_bucket, self._on_delivery, DeliverPolicy.LAST_PER_SUBJECT, True),
        ]
        for bucket, on_message, policy, headers_only in specs:
            if bucket != self.bucket:
                await self._side_bucket(op, bucket)
            watch = self._watches[bucket] = Watch(on_message)
            await watch.start(
                self._js, f"KV_{bucket}", f"$KV.{bucket}.>", deliver_policy=policy, headers_only=headers_only
            )

    async def _stop_watches(self) -> None:
        watches, self._watches = self._watches, {}
        for watch in watches.values():
            await watch.stop()
        for events in self._watchers.values():  # what they watch may change unseen until the watches restart
            for event in events:
                event.set()
        self._running.clear()
        self._leases.clear()
        self._deliveries.clear()
        self._deliveries_of.clear()
        self._replies.clear()

    def _caught_up(self, bucket: str) -> bool:
        """Whether the watch of ``bucket`` has read what the bucket held when it started (later messages are
        changes made since)."""
        watch = self._watches.get(bucket)
        return watch is not None and watch.caught_up.is_set()

    def _on_run(self, msg: Any) -> None:
        key = msg.subject[len(f"$KV.{self.bucket}.") :]
        revision = int(msg.metadata.sequence.stream)
        headers = msg.headers or {}
        if removed(headers):
            self._wake(key)
            self._seen_run(key, revision, None)
            return
        self._wake(key)
        meta = meta_of(headers, revision)
        self._seen_run(key, revision, revision if meta is None else meta)
        if self._caught_up(self.bucket) and self._acts_on(meta):
            self._changed.set()

    def _acts_on(self, meta: RunMeta | None) -> bool:
        """Whether a run written by someone else may be this executor's business: new, released, or its own."""
        if meta is None or self._owner is None:
            return meta is None or meta.writer != self._writer
        return meta.writer != self._writer and meta.running and meta.owner in (None, self._owner)

    def _seen_run(self, key: str, revision: int, meta: RunMeta | int | None) -> None:
        """Index the run of ``key`` at ``revision`` (None: deleted), unless a later revision is indexed."""
        seen = self._running.get(key)
        if seen is not None and _revision(seen) > revision:
            return
        if meta is None or (isinstance(meta, RunMeta) and not meta.running):
            # Its deliveries stay indexed: any executor may take those left (one its owner had not taken yet),
            # to remove them; those the owner purged are not reported by the watch, and a take finds them gone.
            self._running.pop(key, None)
        else:
            self._running[key] = meta

    def _on_lease(self, msg: Any) -> None:
        try:
            owner = decode_key(msg.subject[len(f"$KV.{self.executors_bucket}.") :])
        except ValueError:
            return
        if removed(msg.headers or {}):
            self._leases.pop(owner, None)
        else:
            self._leases[owner] = lease_until(msg.data)

    def _on_delivery(self, msg: Any) -> None:
        key = msg.subject[len(f"$KV.{self.deliveries_bucket}.") :]
        headers = msg.headers or {}
        if REPLY_HEADER in headers:
            self._replies[key] = msg.metadata.timestamp
            self._wake(key)
            return
        if removed(headers):
            self._forget_delivery(key)
            self._replies.pop(key, None)
            return
        run_key = headers.get(DELIVERY_HEADER)
        self._deliveries[key] = (int(msg.metadata.sequence.stream), run_key)
        if run_key is not None:
            self._deliveries_of.setdefault(run_key, set()).add(key)
        if self._caught_up(self.deliveries_bucket):
            self._changed.set()

    def _forget_delivery(self, key: str) -> None:
        _, run_key = self._deliveries.pop(key, (0, None))
        keys = self._deliveries_of.get(run_key) if run_key is not None else None
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._deliveries_of[run_key]  # type: ignore[arg-type]

    # -- connection --

    async def _open(self) -> None:
        if self._owns_conn:
            self._nc = await _connect(self.url, self._timeout, self._connect_options, self._secrets)
        try:
            self._js = self._nc.jetstream(timeout=self._timeout)
            self._kv = await _open_bucket(self._js, self.bucket)
            # nats-py reads whether the bucket allows direct gets when it opens it; reads here do as it does
            self._direct = bool(getattr(self._kv, "_direct", False))
        except BaseException:
            await self._shutdown()
            raise

    async def _shutdown(self) -> None:
        await self._stop_watches()
        self._js = self._kv = None
        self._side_buckets = {}
        if self._owns_conn and self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    def _connection_lost(self) -> bool:
        return self._owns_conn and self._nc is not None and bool(self._nc.is_closed)

    async def _side_bucket(self, op: str, bucket: str) -> Any:
        """The executors or deliveries bucket, created when missing."""
        kv = self._side_buckets.get(bucket)
        if kv is None:
            async with _nats_errors(op, "bucket", self._secrets):
                kv = self._side_buckets[bucket] = await _open_bucket(self._js, bucket)
        return kv

    # -- helpers --

    def _key(self, op: str, workflow_id: str) -> str:
        """The key of ``workflow_id``; :class:`InvalidInputError` when it is too long to send."""
        require_key_id(PROVIDER, op, workflow_id)
        key = encode_key(workflow_id)
        if len(key) > self.max_key_length:
            shown = f"{workflow_id[:40]!r}... ({len(workflow_id)} characters)"
            raise InvalidInputError(
                f"{PROVIDER}/{op}: workflow id {shown} is too long for NatsStore bucket {self.bucket!r}: its "
                f"key is {len(key)} bytes, the limit is {self.max_key_length} (a longer request line would "
                f"exceed nats-server's max_control_line of {MAX_CONTROL_LINE} bytes); nothing was sent"
            )
        return key

    def _side_key(self, op: str, delivery_id: str) -> str:
        """The key of a delivery id in the deliveries bucket."""
        require_key_id(PROVIDER, op, delivery_id)
        key = encode_key(delivery_id)
        if len(key) > self._side_key_length:
            raise InvalidInputError(
                f"{PROVIDER}/{op}: delivery id {delivery_id[:40]!r} is too long for bucket "
                f"{self.deliveries_bucket!r} (its key is {len(key)} bytes, the limit is {self._side_key_length})"
            )
        return key

    def _workflow_id(self, op: str, key: str) -> str:
        try:
            return decode_key(key)
        except ValueError as exc:
            raise StoreError(PROVIDER, op, f"bucket {self.bucket!r}: {exc}") from exc

    def _lock_for(self, workflow_id: str) -> asyncio.Lock:
        lock = self._locks.get(workflow_id)
        if lock is None:
            lock = self._locks[workflow_id] = asyncio.Lock()
        return lock


async def _wait_and_clear(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``event``; True (and clear it) when it is set."""
    # Not asyncio.wait_for: before Python 3.12 it can swallow a cancellation that arrives just as the event is
    # set, and the executor's loop would never stop.
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=max(0.0, timeout))
    finally:
        waiter.cancel()
    if not event.is_set():
        return False
    event.clear()
    return True


class _RunWatch:
    """The watch of a run and of a reply on a :class:`NatsStore` (see ``LeasingStore.watch_run``): an event
    the store's watches of the buckets set on every message of either key; its own, so it takes no change
    from ``wait_for_change`` nor from another watch."""

    def __init__(self, store: NatsStore, keys: tuple[str, ...]) -> None:
        self._store = store
        self._keys = keys
        self._event = asyncio.Event()
        for key in keys:
            store._watchers.setdefault(key, set()).add(self._event)

    async def wait(self, timeout: float) -> bool:
        store = self._store
        await store._ready("watch_run")
        await store._watching("watch_run")  # after a reconnect: started again, and this watch woken
        return await _wait_and_clear(self._event, timeout)

    def close(self) -> None:
        for key in self._keys:
            events = self._store._watchers.get(key)
            if events is not None:
                events.discard(self._event)
                if not events:
                    del self._store._watchers[key]


#: JetStream's error codes for a message refused by its expected last subject sequence.
_WRONG_LAST_SEQUENCE = (10071, 10164)
#: How often ``create_run`` tries again when the key changed between its write and its read.
_CREATE_ATTEMPTS = 10
#: How long after its expiry a lease record is purged from the executors bucket (a released one: at once).
_FORGET_LEASE_US = 3600 * 1_000_000


@dataclass(frozen=True)
class _Base:
    """The revision a store object's next write of a run is based on, and the run's owner at that revision."""

    revision: int
    owner: str | None


@dataclass(frozen=True)
class _Current:
    """The latest message of a run's key."""

    revision: int
    removed: bool
    meta: RunMeta | None
    value: bytes

    @property
    def owner(self) -> str | None:
        return None if self.meta is None or self.removed else self.meta.owner


@dataclass
class _Claim:
    """One ``claim_runs`` call: who claims, what it may take, and the leases it has read."""

    owner: str
    types: set[str]
    dead: set[str]
    by_id: bool
    live: dict[str, bool] = field(default_factory=dict)


def _revision(seen: RunMeta | int) -> int:
    return seen.revision if isinstance(seen, RunMeta) else seen


def _created_us(seen: RunMeta | int | None) -> int:
    return seen.created_us if isinstance(seen, RunMeta) else 0


def _inbox_prefix(conn: Any, connect_options: Mapping[str, Any]) -> str:
    """The inbox prefix of the connection's request replies (nats-py has no public accessor for a client's)."""
    prefix = getattr(conn, "_inbox_prefix", None) if conn is not None else connect_options.get("inbox_prefix")
    if isinstance(prefix, (bytes, bytearray)):
        return prefix.decode()
    return prefix if isinstance(prefix, str) else DEFAULT_INBOX_PREFIX


@contextlib.asynccontextmanager
async def _nats_errors(op: str, what: str, secrets: Secrets) -> AsyncIterator[None]:
    """:func:`store_errors`, saying plainly what nats-py's error for "disconnected" means."""
    async with store_errors(PROVIDER, op, what, secrets):
        try:
            yield
        except OutboundBufferLimitError as exc:
            raise ConnectionError(
                "not connected to the NATS server (reconnecting); nothing was sent"
            ) from exc


ErrorCallback = Callable[[Exception], Awaitable[None]]

# connect_options whose string value is a secret (user_credentials and nkeys_seed are file paths)
_SECRET_OPTIONS = ("password", "token", "nkeys_seed_str")
# what the server says when it refuses a client's credentials (nats-py passes it on as an error text)
_REFUSALS = ("authorization violation", "authentication expired", "authentication revoked")
_TLS_ERRORS = (ssl.SSLError, SecureConnFailedError, SecureConnRequiredError, SecureConnWantedError)


async def _connect(url: str, timeout: float, options: Mapping[str, Any], secrets: Secrets) -> Any:
    """A new connection, given ``timeout`` seconds in all (nats-py alone retries a down server for minutes).

    nats-py reports refused credentials and TLS failures only to its ``error_cb`` and then keeps trying;
    those end the attempt at once here, as a :class:`CredentialsRefused` or :class:`TlsFailed` error.
    """
    client = NATS()
    loop = asyncio.get_running_loop()
    fatal: asyncio.Future[Exception] = loop.create_future()
    callers_cb: ErrorCallback | None = options.get("error_cb")
    callers_reconnected_cb: Callable[[], Awaitable[None]] | None = options.get("reconnected_cb")
    #: Errors since the connection was last up: the first one is a warning, the reconnect attempts after it
    #: (every ``reconnect_time_wait``) only debug records, and the reconnect one line.
    failures = 0

    async def error_cb(exc: Exception) -> None:
        nonlocal failures
        if not fatal.done() and _fatal_at_connect(exc):
            fatal.set_result(exc)
            return
        if callers_cb is not None:
            await callers_cb(exc)
            return
        failures += 1
        level = logging.WARNING if failures == 1 else logging.DEBUG
        _log.log(level, "NatsStore connection: %s: %s", type(exc).__name__, secrets.scrub(str(exc)))

    async def reconnected_cb() -> None:
        nonlocal failures
        if failures:
            shown = redact_url(url, bare_user_is_secret=True)
            _log.warning("NatsStore connection: reconnected to %s after %d errors", shown, failures)
        failures = 0
        if callers_reconnected_cb is not None:
            await callers_reconnected_cb()

    settings = {
        "pending_size": 0,
        "connect_timeout": timeout,
        **options,
        "error_cb": error_cb,
        "reconnected_cb": reconnected_cb,
    }
    connecting: asyncio.Future[Any] = asyncio.ensure_future(client.connect(url, **settings))
    waited: set[asyncio.Future[Any]] = {connecting, fatal}
    try:
        await asyncio.wait(waited, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        connecting.cancel()
        await asyncio.shield(client.close())
        raise
    shown = redact_url(url, bare_user_is_secret=True)
    if fatal.done() or not connecting.done():
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
        await asyncio.shield(client.close())
        if fatal.done():
            raise _described(shown, url, options, fatal.result())
        raise TimeoutError(f"no connection to {shown} within {timeout}s")
    fatal.cancel()  # later errors are logged (or go to the caller's error_cb)
    try:
        connecting.result()
    except Exception as exc:
        await asyncio.shield(client.close())
        if _fatal_at_connect(exc):
            raise _described(shown, url, options, exc) from exc
        raise
    return client


def _fatal_at_connect(exc: BaseException) -> bool:
    """True for an error that trying again cannot cure: refused credentials, a failed TLS handshake."""
    return isinstance(exc, (AuthorizationError, *_TLS_ERRORS)) or _refusal(exc) is not None


def _refusal(exc: BaseException) -> str | None:
    """The server's reason when ``exc`` says it refused the credentials (``authorization violation``)."""
    text = str(exc).lower()
    if isinstance(exc, AuthorizationError):
        return "authorization violation"
    return next((reason for reason in _REFUSALS if reason in text), None)


def _described(shown: str, url: str, options: Mapping[str, Any], exc: Exception) -> Exception:
    """The error for a connection refused for its credentials or failed in the TLS handshake."""
    if isinstance(exc, _TLS_ERRORS):
        return TlsFailed(f"{shown}: TLS: {_tls_problem(exc)}")
    reason = _refusal(exc) or str(exc)
    given = _credentials(url, options)
    if given is None:
        return CredentialsRefused(f"{shown} requires credentials and none were given ({reason})")
    return CredentialsRefused(f"{shown} refused {given} ({reason})")


def _credentials(url: str, options: Mapping[str, Any]) -> str | None:
    """What credentials the connection offered, named without showing any secret."""
    if options.get("user_credentials"):
        creds = options["user_credentials"]
        return f"the credentials file {creds!r}" if isinstance(creds, str) else "the user JWT and nkey"
    if options.get("nkeys_seed"):
        return f"the nkey seed file {options['nkeys_seed']!r}"
    if options.get("nkeys_seed_str"):
        return "the nkey seed"
    user = options.get("user") or url_user(url)
    if user:
        return f"the credentials of user {user!r}"
    if options.get("token") or url_secrets(url, bare_user_is_secret=True):
        return "the token"
    return None


def _tls_problem(exc: Exception) -> str:
    """``certificate verify failed: <why>`` for an unverifiable certificate, the TLS error's text otherwise."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).replace("_", " ").lower()
    return str(exc).removeprefix("nats: ")


async def _open_bucket(js: Any, bucket: str) -> Any:
    """The KV bucket, created (one value per key) when missing."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(bucket=bucket, history=1))


@dataclass(frozen=True)
class _Entry:
    """The latest value of one key, as listed."""

    key: str
    value: bytes
    revision: int
    headers: Mapping[str, str] = field(default_factory=dict)


async def _latest_entries(js: Any, bucket: str, timeout: float, secrets: Secrets) -> list[_Entry]:
    """The latest value of every live key, read through one pull consumer (delete markers left out).

    The consumer delivers the last message of each subject. It is created before anything is delivered, so
    its pending count is exact (nats-py's KV watcher decides "nothing more" from a count taken while the
    server may already be delivering, and can stop early); every message then says how many are still
    pending, so the read ends when that reaches zero, taking in writes that land meanwhile.
    """
    stream, prefix = f"KV_{bucket}", f"$KV.{bucket}."
    config = ConsumerConfig(
        name=f"beluga-list-{uuid.uuid4().hex}",
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        ack_policy=AckPolicy.NONE,
        filter_subject=f"{prefix}>",
        mem_storage=True,
        inactive_threshold=max(timeout, 5.0),  # the server drops it if this process goes away mid-list
    )
    async with _nats_errors("list", "consumer", secrets):
        info = await js.add_consumer(stream, config)
    latest: dict[str, _Entry] = {}
    try:
        async with _nats_errors("list", "fetch", secrets):
            subscription = await js.pull_subscribe_bind(name=config.name, stream=stream)
            pending = info.num_pending
            while pending > 0:
                for msg in await subscription.fetch(batch=_LIST_BATCH, timeout=timeout):
                    pending = _take(latest, msg, prefix)
            await subscription.unsubscribe()
    finally:
        with contextlib.suppress(Exception):  # it expires on its own; the listing's outcome is what counts
            await asyncio.shield(js.delete_consumer(stream, config.name))
    return list(latest.values())


def _take(latest: dict[str, _Entry], msg: Any, prefix: str) -> int:
    """Record ``msg`` as its key's latest value (or drop the key for a delete or purge marker).

    Returns how many messages the consumer still has pending after this one.
    """
    key, metadata = msg.subject[len(prefix) :], msg.metadata
    headers = msg.headers or {}
    if headers.get("KV-Operation") in ("DEL", "PURGE") or "Nats-Marker-Reason" in headers:
        latest.pop(key, None)
    else:
        latest[key] = _Entry(key, msg.data or b"", metadata.sequence.stream, headers)
    return int(metadata.num_pending)


def _conflict(workflow_id: str, base: int | None, exc: Exception) -> str:
    if base is None:
        return (
            f"conflict: workflow {workflow_id!r} already exists in the bucket and this store has not read "
            f"it; load or list it before saving over it ({exc})"
        )
    return (
        f"conflict: workflow {workflow_id!r} was written by someone else since revision {base}; "
        f"the stored state was kept; load it again before saving ({exc})"
    )
