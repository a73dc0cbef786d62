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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
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
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

from ..api._types import WorkflowFilter, WorkflowState
from ..api.errors import InvalidInputError, StoreError
from ._base import CredentialsRefused, TlsFailed, apply_filter, encode_state, store_errors
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
    """

    provider = PROVIDER
    library_loggers = ("nats",)

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
        self._timeout = timeout
        self._connect_options = dict(connect_options or {})
        self._nc: Any = conn
        self._owns_conn = conn is None
        self._js: Any = None
        self._kv: Any = None
        self._revisions: dict[str, int] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # the longest key this store sends; a longer one is refused (see MAX_CONTROL_LINE)
        self.max_key_length = max_key_length(bucket, _inbox_prefix(conn, self._connect_options))
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
            self._revisions[state.workflow_id] = await self._write(state.workflow_id, key, payload)

    async def load(self, workflow_id: str) -> WorkflowState | None:
        key = self._key("load", workflow_id)
        await self._ready("load")
        async with _nats_errors("load", "get", self._secrets):
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                return None
        state = decode_stored_state(PROVIDER, "load", entry.value or b"", workflow_id)
        self._revisions.setdefault(workflow_id, entry.revision)
        return state

    async def list(self, filter: WorkflowFilter | None = None) -> list[WorkflowState]:
        """Every state in the bucket, read in one pass over the latest values, then filtered."""
        await self._ready("list")
        states: list[WorkflowState] = []
        for entry in await _latest_entries(self._js, self.bucket, self._timeout, self._secrets):
            workflow_id = self._workflow_id("list", entry.key)
            states.append(decode_stored_state(PROVIDER, "list", entry.value, workflow_id))
            self._revisions.setdefault(workflow_id, entry.revision)
        return apply_filter(states, filter)

    async def delete(self, workflow_id: str) -> None:
        key = self._key("delete", workflow_id)
        await self._ready("delete")
        async with self._lock_for(workflow_id):
            async with _nats_errors("delete", "delete", self._secrets):
                await self._kv.delete(key)
            self._revisions.pop(workflow_id, None)

    # -- writes and reads --

    async def _write(self, workflow_id: str, key: str, payload: bytes) -> int:
        """Create or update the key against the remembered revision; return the new revision."""
        base = self._revisions.get(workflow_id)
        verb = "create" if base is None else "update"
        async with _nats_errors("save", verb, self._secrets):
            try:
                if base is None:
                    return int(await self._kv.create(key, payload))
                return int(await self._kv.update(key, payload, last=base))
            except KeyWrongLastSequenceError as exc:
                self._revisions.pop(workflow_id, None)
                raise StoreError(PROVIDER, "save", _conflict(workflow_id, base, exc)) from exc

    # -- connection --

    async def _open(self) -> None:
        if self._owns_conn:
            self._nc = await _connect(self.url, self._timeout, self._connect_options, self._secrets)
        try:
            self._js = self._nc.jetstream(timeout=self._timeout)
            self._kv = await _open_bucket(self._js, self.bucket)
        except BaseException:
            await self._shutdown()
            raise

    async def _shutdown(self) -> None:
        self._js = self._kv = None
        if self._owns_conn and self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    def _connection_lost(self) -> bool:
        return self._owns_conn and self._nc is not None and bool(self._nc.is_closed)

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

    async def error_cb(exc: Exception) -> None:
        if not fatal.done() and _fatal_at_connect(exc):
            fatal.set_result(exc)
            return
        if callers_cb is not None:
            await callers_cb(exc)
        else:
            _log.warning("NatsStore connection: %s: %s", type(exc).__name__, secrets.scrub(str(exc)))

    settings = {"pending_size": 0, "connect_timeout": timeout, **options, "error_cb": error_cb}
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
        latest[key] = _Entry(key, msg.data or b"", metadata.sequence.stream)
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
