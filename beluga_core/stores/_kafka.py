"""KafkaStore: workflow states in a compacted Kafka topic (extra ``kafka``: ``aiokafka``).

Every save is a record keyed by the workflow id (UTF-8) with the state as JSON; a delete is a tombstone (a
record with no value). The topic is created with ``cleanup.policy=compact`` when missing, so the broker keeps
at least the latest record of every key.

The store answers ``load`` and ``list`` from a view it builds by reading the topic: when it connects it reads
every partition from the beginning (the latest record of a key wins, whether or not the broker has
compacted) and then keeps following the topic in a background task. So states written before a restart, and
by other instances, are visible: at once for what was in the topic when the store connected, and shortly
after they are written for the rest (eventual visibility; :meth:`KafkaStore.sync` waits until the view has
caught up with the topic's current end).

Reads-your-writes: ``save`` and ``delete`` return once the broker has acknowledged the record (``acks=all``),
and then put it in the view themselves. The view keeps each key's offset and only ever replaces a record by
one at a higher offset of the same partition, so it always shows the latest record in log order, whichever
of the acknowledgement and the follower gets there first.

There are no revision checks: Kafka has no conditional produce. Two instances writing the same workflow both
succeed and the one written later in the log wins.

The executor lock (``ExclusiveStore``: one DefaultExecutor at a time runs the topic's workflows). Kafka has no
compare-and-set, but a partition is totally ordered, and every reader of it sees the same records in the same
order. The lock lives in a second compacted topic, ``<topic>-executor-lock`` (one partition, created on first
use), keyed by executor. To take it, an executor appends its claim (owner, expiry), then reads that topic
from the start to its end, keeping each key's latest record: of the claims that have not expired, the one
whose chain started first holds the lock. A first claim's chain starts at its own offset, and each renewal
(a claim appended every third of ``lease_timeout``) names the offset of the first claim; so a claim made
while the holder renews always loses, whoever reads the log. A losing claim is withdrawn (tombstoned) at
once, the winner tombstones the expired claims it read, and closing tombstones the holder's claim. Compaction
keeps the latest record of every key, which is all the rule reads. An executor whose renewal is not
acknowledged before its lock expires counts the lock as lost (another executor may take the topic then).
Expiries are in the writer's clock: keep the hosts' clocks in sync (NTP) to well within ``lease_timeout``.

Security: ``client_options`` (``security_protocol``, ``sasl_mechanism``, ``sasl_plain_username``,
``sasl_plain_password``, ``ssl_context``, ...) go to every client the store makes: the admin client, the
producer and the consumer. The SASL password never appears in an error, a log record or ``repr()``; a broker
that refuses the credentials fails the connection at once with a :class:`StoreError` saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from ..api._types import LockHolder, WorkflowFilter, WorkflowState
from ._base import CredentialsRefused, TlsFailed, apply_filter, encode_state, require_workflow_id
from ._executor_lock import LockRecord, decode_lock, new_claim
from ._remote import RemoteStore, decode_stored_state
from ._secrets import REDACTED

PROVIDER = "kafka"

_TOPIC_ALREADY_EXISTS = 36

#: The executor lock's topic is the store's topic name with this suffix.
LOCK_TOPIC_SUFFIX = "-executor-lock"

# The keyword arguments that aiokafka's admin client, producer and consumer all take, less those the store
# sets itself (bootstrap_servers, request_timeout_ms): what ``client_options`` may hold.
CLIENT_OPTIONS = frozenset(
    {
        "security_protocol",
        "ssl_context",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "sasl_kerberos_service_name",
        "sasl_kerberos_domain_name",
        "sasl_oauth_token_provider",
        "client_id",
        "api_version",
        "connections_max_idle_ms",
        "metadata_max_age_ms",
        "retry_backoff_ms",
    }
)
_SECRET_OPTIONS = ("sasl_plain_password",)
_REFUSED = (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
_SHOWN_OPTIONS = ("security_protocol", "sasl_mechanism", "sasl_plain_username")


@dataclass(frozen=True)
class _Record:
    """The latest record seen for one key; ``value`` None is a tombstone."""

    partition: int
    offset: int
    value: bytes | None


class KafkaStore(RemoteStore):
    """Workflow states in a compacted topic, served from a view that follows the topic.

    Args:
        bootstrap_servers: the Kafka brokers, ``host:port[,host:port...]``.
        topic: the topic (created compacted, with ``partitions`` partitions, when missing).
        partitions: partition count used when the store creates the topic.
        replication_factor: replication factor used when the store creates the topic.
        timeout: seconds for any broker request, and for catching up with the topic when connecting.
        poll_interval: longest wait, in seconds, of one fetch of the follower; bounds how soon other
            instances' writes show up.
        client_options: security settings for every aiokafka client the store makes, e.g.
            ``{"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username":
            "ops", "sasl_plain_password": "...", "ssl_context": ctx}`` (the keys are in
            :data:`CLIENT_OPTIONS`; any other is a ``ValueError``).
    """

    provider = PROVIDER
    library_loggers = ("aiokafka",)

    def __init__(
        self,
        bootstrap_servers: str = "127.0.0.1:9092",
        topic: str = "beluga-workflows",
        *,
        partitions: int = 1,
        replication_factor: int = 1,
        timeout: float = 10.0,
        poll_interval: float = 0.1,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        options = dict(client_options or {})
        unknown = sorted(set(options) - CLIENT_OPTIONS)
        if unknown:
            raise ValueError(
                f"KafkaStore: unknown client_options {', '.join(map(repr, unknown))}; the options are "
                f"{', '.join(sorted(CLIENT_OPTIONS))} (bootstrap_servers and timeout are arguments of "
                "their own)"
            )
        super().__init__()
        self._client_options = options
        for option in _SECRET_OPTIONS:
            self._secrets.add(options.get(option))
        self._guard_secrets()
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._partition_count = partitions
        self._replication_factor = replication_factor
        self._timeout = timeout
        self._poll_ms = max(1, int(poll_interval * 1000))
        self._producer: Any = None
        self._consumer: Any = None
        self._follower: asyncio.Task[None] | None = None
        self._follower_error: BaseException | None = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Event()
        self._view: dict[str, _Record] = {}
        self._lock_topic_ready = False
        #: Per owner holding the executor lock through this store: the offset its claims chain from.
        self._lock_chains: dict[str, int] = {}

    def __repr__(self) -> str:
        shown = "".join(
            f", {name}={self._client_options[name]!r}"
            for name in _SHOWN_OPTIONS
            if name in self._client_options
        )
        if "sasl_plain_password" in self._client_options:
            shown += f", sasl_plain_password={REDACTED!r}"
        if "ssl_context" in self._client_options:
            shown += ", ssl_context=<SSLContext>"
        return f"KafkaStore(bootstrap_servers={self.bootstrap_servers!r}, topic={self.topic!r}{shown})"

    # -- WorkflowStore --

    async def save(self, state: WorkflowState) -> None:
        await self._produce("save", state.workflow_id, encode_state(PROVIDER, state))

    async def load(self, workflow_id: str) -> WorkflowState | None:
        require_workflow_id(PROVIDER, "load", workflow_id)
        await self._ready("load")
        record = self._view.get(workflow_id)
        if record is None or record.value is None:
            return None
        return decode_stored_state(PROVIDER, "load", record.value, workflow_id)

    async def list(self, filter: WorkflowFilter | None = None) -> list[WorkflowState]:
        await self._ready("list")
        states = [
            decode_stored_state(PROVIDER, "list", record.value, workflow_id)
            for workflow_id, record in list(self._view.items())
            if record.value is not None
        ]
        return apply_filter(states, filter)

    async def delete(self, workflow_id: str) -> None:
        await self._produce("delete", workflow_id, None)

    async def sync(self) -> None:
        """Wait until the view holds every record the topic held when this was called."""
        await self._ready("sync")
        async with self._errors("sync"):
            await self._catch_up()

    # -- ExclusiveStore: the executor lock --

    @property
    def lock_topic(self) -> str:
        """The compacted topic of the executor lock's claims: ``<topic>-executor-lock``."""
        return self.topic + LOCK_TOPIC_SUFFIX

    async def acquire_executor_lock(
        self, owner: str, timeout: timedelta, dead_owners: Collection[str] = ()
    ) -> LockHolder | None:
        """Append ``owner``'s claim, read the lock topic back to its end, and hold the lock when the claim
        is the live one whose chain started first (see the module docs)."""
        await self._ready("lock")
        since = self._lock_chains.get(owner)
        async with self._errors("lock"):
            if not self._lock_topic_ready:
                await self._ensure_topic(self.lock_topic, partitions=1)
                self._lock_topic_ready = True
            offset = await self._put_claim(new_claim(owner, timeout, since))
            now, claims = await self._read_claims()
            winner = _lock_winner(claims, now, dead_owners)
            if winner is not None and winner.owner == owner:
                self._lock_chains[owner] = offset if since is None else since
                await self._withdraw(
                    other for other, (_, claim) in claims.items() if not claim.live(now, dead_owners)
                )
                return None
            if since is None:
                await self._withdraw([owner])
        if winner is None:  # even this claim had expired by the time it was read back
            raise self._error(
                "lock", f"the claim expired before it was read back: a timeout of {timeout} is too short"
            )
        return winner.holder()

    async def renew_executor_lock(self, owner: str, timeout: timedelta) -> bool:
        since = self._lock_chains.get(owner)
        if since is None:
            return False
        await self._ready("renew lock")
        async with self._errors("renew lock"):
            await self._put_claim(new_claim(owner, timeout, since))
        return True

    async def release_executor_lock(self, owner: str) -> None:
        if self._lock_chains.pop(owner, None) is None:
            return
        await self._ready("unlock")
        async with self._errors("unlock"):
            await self._withdraw([owner])

    async def _put_claim(self, claim: LockRecord) -> int:
        sent = await self._producer.send_and_wait(
            self.lock_topic, value=claim.encode(), key=claim.owner.encode()
        )
        return int(sent.offset)

    async def _withdraw(self, owners: Iterable[str]) -> None:
        """Tombstone the claims of ``owners``."""
        for owner in owners:
            await self._producer.send_and_wait(self.lock_topic, value=None, key=owner.encode())

    async def _read_claims(self) -> tuple[float, dict[str, tuple[int, LockRecord]]]:
        """The time just before the lock topic's end was asked for, and each owner's latest claim up to that
        end (with its offset); tombstoned owners are left out."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._poll_ms,
            request_timeout_ms=int(self._timeout * 1000),
            **self._client_options,
        )
        await consumer.start()
        try:
            partition = TopicPartition(self.lock_topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            now = time.time()
            end = (await consumer.end_offsets([partition]))[partition]
            latest: dict[str, tuple[int, bytes | None]] = {}
            deadline = time.monotonic() + self._timeout
            while await consumer.position(partition) < end:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading topic {self.lock_topic!r} took more than {self._timeout}s")
                batches = await consumer.getmany(partition, timeout_ms=self._poll_ms)
                for record in batches.get(partition, []):
                    if record.key is not None and record.offset < end:
                        latest[record.key.decode(errors="replace")] = (record.offset, record.value)
        finally:
            await consumer.stop()
        claims = {}
        for owner, (offset, value) in latest.items():
            claim = None if value is None else decode_lock(value)
            if claim is not None and claim.owner == owner:
                claims[owner] = (offset, claim)
        return now, claims

    # -- producing --

    async def _produce(self, op: str, workflow_id: str, value: bytes | None) -> None:
        require_workflow_id(PROVIDER, op, workflow_id)
        await self._ready(op)
        async with self._errors(op, "produce"):
            sent = await self._producer.send_and_wait(self.topic, value=value, key=workflow_id.encode())
        self._apply(workflow_id, sent.partition, sent.offset, value)

    def _apply(self, workflow_id: str, partition: int, offset: int, value: bytes | None) -> None:
        """Record ``value`` for the key unless the view already holds a later record of it."""
        current = self._view.get(workflow_id)
        if current is not None and current.partition == partition and current.offset >= offset:
            return
        self._view[workflow_id] = _Record(partition, offset, value)

    # -- following the topic --

    async def _follow(self) -> None:
        """Apply every record of the topic to the view, for as long as the store is open."""
        try:
            while True:
                batches = await self._consumer.getmany(*self._partitions, timeout_ms=self._poll_ms)
                for records in batches.values():
                    for record in records:
                        key = b"" if record.key is None else record.key
                        self._apply(
                            key.decode(errors="replace"), record.partition, record.offset, record.value
                        )
                for tp in self._partitions:
                    self._positions[tp] = await self._consumer.position(tp)
                self._notify()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported by the next call, which reconnects (see _connection_lost)
            self._follower_error = exc
            self._notify()

    def _notify(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    async def _catch_up(self) -> None:
        """Wait until the follower has applied every record up to the partitions' current end offsets."""
        ends = await self._consumer.end_offsets(self._partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while any(self._positions.get(tp, 0) < end for tp, end in ends.items()):
            if self._follower_error is not None:
                raise RuntimeError(f"following topic {self.topic!r}: {self._follower_error}")
            progress = self._progress
            try:
                await asyncio.wait_for(progress.wait(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"reading topic {self.topic!r} did not catch up within {self._timeout}s"
                ) from None

    # -- connection --

    async def _open(self) -> None:
        try:
            try:
                await self._ensure_topic()
                await self._start_clients()
            except Exception as exc:
                explained = _explain(self.bootstrap_servers, self._client_options, exc)
                if explained is None and isinstance(exc, KafkaConnectionError) and self._client_options:
                    explained = await _diagnose(self.bootstrap_servers, self._client_options, self._timeout)
                if explained is not None:
                    raise explained from exc
                raise
            self._follower = asyncio.create_task(self._follow(), name=f"kafka-store-follow-{self.topic}")
            await self._catch_up()
        except BaseException:
            await self._shutdown()
            raise

    async def _ensure_topic(self, topic: str | None = None, partitions: int | None = None) -> None:
        """Create ``topic`` (the store's by default) compacted, or check that an existing one is compacted."""
        topic = self.topic if topic is None else topic
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            request_timeout_ms=int(self._timeout * 1000),
            **self._client_options,
        )
        await admin.start()
        try:
            new_topic = NewTopic(
                topic,
                self._partition_count if partitions is None else partitions,
                self._replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            )
            response = await admin.create_topics([new_topic])
            for _, code, message in (error[:3] for error in response.topic_errors):
                if code == _TOPIC_ALREADY_EXISTS:
                    await _check_compacted(admin, topic)
                elif code != 0:
                    raise RuntimeError(f"create topic {topic!r}: {message} (error {code})")
        finally:
            await admin.close()

    async def _start_clients(self) -> None:
        request_timeout_ms = int(self._timeout * 1000)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            acks="all",
            request_timeout_ms=request_timeout_ms,
            **self._client_options,
        )
        await self._producer.start()
        partitions = await self._producer.partitions_for(self.topic)
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._poll_ms,
            request_timeout_ms=request_timeout_ms,
            **self._client_options,
        )
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)
        self._view.clear()
        self._positions.clear()
        self._follower_error = None

    async def _shutdown(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        consumer, producer = self._consumer, self._producer
        self._consumer = self._producer = None
        if consumer is not None:
            await consumer.stop()
        if producer is not None:
            await producer.stop()

    def _connection_lost(self) -> bool:
        """A follower that stopped on an error means the view is stale: reconnect and rebuild it."""
        return self._follower_error is not None


async def _check_compacted(admin: Any, topic: str) -> None:
    """Refuse a topic whose cleanup policy would drop the latest record of a key after a while."""
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    for response in await admin.describe_configs([resource]):
        for resource_result in response.resources:
            for entry in resource_result[4]:
                name, value = entry[0], entry[1]
                if name == "cleanup.policy" and value is not None and "compact" not in value:
                    raise RuntimeError(
                        f"topic {topic!r} has cleanup.policy={value}: records would be deleted by "
                        f"retention; use a compacted topic"
                    )


def _lock_winner(
    claims: Mapping[str, tuple[int, LockRecord]], now: float, dead_owners: Collection[str]
) -> LockRecord | None:
    """The claim that holds the lock: of the live claims, the one whose chain started first (a first claim's
    chain starts at its own offset, a renewal names the offset it chains from)."""
    live = [
        (claim.since if claim.since is not None else offset, claim)
        for offset, claim in claims.values()
        if claim.live(now, dead_owners)
    ]
    return min(live, key=lambda started: started[0])[1] if live else None


# the options of one aiokafka connection (aiokafka.conn.create_conn), for diagnosing a failed bootstrap
_CONNECTION_OPTIONS = CLIENT_OPTIONS - {
    "api_version",
    "connections_max_idle_ms",
    "metadata_max_age_ms",
    "retry_backoff_ms",
}


async def _diagnose(servers: str, options: Mapping[str, Any], timeout: float) -> Exception | None:
    """Why the clients could not bootstrap, when it was refused credentials or a failed TLS handshake.

    aiokafka's clients log the error of each broker and raise only "Unable to bootstrap"; one direct
    connection to the first broker, with the same settings, shows the real error.
    """
    host, _, port = servers.split(",")[0].strip().rpartition(":")
    settings = {name: options[name] for name in _CONNECTION_OPTIONS if name in options}
    try:
        conn = await asyncio.wait_for(
            create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **settings), timeout
        )
    except Exception as exc:
        return _explain(servers, options, exc)
    conn.close()
    return None


def _explain(servers: str, options: Mapping[str, Any], exc: BaseException) -> Exception | None:
    """A :class:`CredentialsRefused` or :class:`TlsFailed` for ``exc`` when it is one of those, else None."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsFailed(f"{servers}: TLS: certificate verify failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return TlsFailed(f"{servers}: TLS: {str(exc.reason or exc).replace('_', ' ').lower()}")
    if isinstance(exc, _REFUSED) or _in_sasl_handshake(exc):
        mechanism = options.get("sasl_mechanism", "PLAIN")
        user = options.get("sasl_plain_username")
        given = f"the credentials of user {user!r}" if user else "the credentials"
        if isinstance(exc, _REFUSED):
            why = str(exc) or type(exc).__name__
        elif isinstance(exc, KafkaConnectionError):
            why = f"{mechanism}: the broker closed the connection during authentication"
        else:  # aiokafka's SCRAM client fails on the server's refusal (no signature in its last message)
            why = f"{mechanism} authentication failed"
        return CredentialsRefused(f"{servers} refused {given} ({why})")
    return None


def _in_sasl_handshake(exc: BaseException) -> bool:
    """True when ``exc`` was raised during aiokafka's SASL authentication of a connection."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_do_sasl_handshake":
            return True
        tb = tb.tb_next
    return False
