"""Where the operator tools look: a SQLite file, a NATS bucket or a Temporal namespace.

:func:`select_target` turns the global options into a :class:`Target` (checked, secrets collected for
redaction); :func:`open_backend` opens it as a :class:`Backend`: its store, and an executor for the calls that
talk to runs (signal, cancel, query, result), made with the library's own classes:

- SQLite and NATS (stores several processes share): a client, ``DefaultExecutor(store=store, worker=False)``:
  it never runs a workflow; a signal or a cancellation of a run another executor process owns goes through
  the store's inbox and reaches it within a second; one of a run no process owns is delivered when an
  executor next takes it. Workflow functions given with ``--workflows`` answer user queries (by replaying
  the history) and decode results.
- Any other store (run by one executor at a time): ``DefaultExecutor(store=store)`` started with no workflow
  registered, so it resumes no run; a signal or a cancellation is written to the stored history.
- Temporal: ``TemporalStore`` and ``TemporalExecutor`` over a client connected with ``BelugaPlugin``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..api._protocols import DurableExecutor, LeasingStore, WorkflowFunction, WorkflowStore
from ..stores._secrets import Secrets, redact_url, url_secrets
from ._errors import OperatorError

#: How long connecting to Temporal may take before the command gives up.
CONNECT_TIMEOUT = 10.0
_NATS_SCHEMES = ("nats", "tls", "ws", "wss")
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\s/]+):(?P<port>\d{1,5})$")
_CLI_TASK_QUEUE = "beluga-cli"  # TemporalExecutor needs one; the operator tools start no workflow


@dataclass(frozen=True)
class TemporalOptions:
    address: str
    namespace: str = "default"
    api_key: str | None = None
    tls: bool | None = None  # None: on when a certificate, a CA or an API key is given
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_server_name: str | None = None


@dataclass(frozen=True)
class Target:
    kind: Literal["sqlite", "nats", "temporal"]
    location: str
    bucket: str = "beluga_workflows"
    temporal: TemporalOptions | None = None
    secrets: Secrets = field(default_factory=Secrets, compare=False)

    def label(self) -> str:
        """Where this is, for people, secrets redacted."""
        if self.kind == "sqlite":
            return f"SQLite {self.location}"
        if self.kind == "nats":
            return f"NATS {redact_url(self.location, bare_user_is_secret=True)} bucket {self.bucket}"
        namespace = self.temporal.namespace if self.temporal else "default"
        return f"Temporal {self.location} namespace {namespace}"

    def scrub(self, text: str) -> str:
        """``text`` with this target's secrets (and any URL password) replaced by ``***``."""
        return self.secrets.scrub(text)


def select_target(
    *,
    db: str | None,
    nats: str | None,
    bucket: str | None,
    temporal: TemporalOptions | None,
    environ: dict[str, str] | None = None,
) -> Target:
    """The one store the options name. With none named: ``$BELUGA_DB``, else ``beluga.db`` here."""
    env = os.environ if environ is None else environ
    given = [name for name, value in (("--db", db), ("--nats", nats), ("--temporal", temporal)) if value]
    if len(given) > 1:
        raise OperatorError(f"give one store, not {' and '.join(given)}")
    if bucket is not None and not nats:
        raise OperatorError("--bucket goes with --nats URL")
    if nats:
        return _nats_target(nats, bucket or "beluga_workflows")
    if temporal is not None:
        return _temporal_target(temporal)
    if db:
        return _sqlite_target(db, "--db")
    return _sqlite_target(env.get("BELUGA_DB") or DEFAULT_DB, "$BELUGA_DB")


#: The SQLite file the commands read when no store is given and ``$BELUGA_DB`` is not set.
DEFAULT_DB = "beluga.db"


def _sqlite_target(path: str, option: str) -> Target:
    match = _URL.match(path)
    if match:
        scheme = match["scheme"].lower()
        hint = (
            "for NATS give --nats URL"
            if scheme in _NATS_SCHEMES
            else "for Temporal give --temporal HOST:PORT"
            if scheme == "temporal"
            else "it takes a SQLite file path"
        )
        raise OperatorError(f"unknown store URL {redact_url(path)!r} for {option}: {hint}")
    return Target("sqlite", path)


def _nats_target(url: str, bucket: str) -> Target:
    for server in url.split(","):
        match = _URL.match(server.strip())
        if match is None or match["scheme"].lower() not in _NATS_SCHEMES:
            raise OperatorError(
                f"unknown store URL {redact_url(server.strip(), bare_user_is_secret=True)!r} for --nats: "
                "expected nats://HOST:PORT (or tls://, ws://, wss://)"
            )
    if not re.fullmatch(r"[A-Za-z0-9_-]+", bucket):
        raise OperatorError(f"--bucket {bucket!r}: a bucket name is letters, digits, '_' and '-'")
    return Target("nats", url, bucket=bucket, secrets=Secrets(url_secrets(url, bare_user_is_secret=True)))


def _temporal_target(options: TemporalOptions) -> Target:
    address = options.address
    if _URL.match(address) or not _HOST_PORT.match(address):
        raise OperatorError(f"--temporal {redact_url(address)!r}: expected HOST:PORT (e.g. 127.0.0.1:7233)")
    if bool(options.tls_cert) != bool(options.tls_key):
        raise OperatorError("--tls-cert and --tls-key go together (a client certificate and its key)")
    return Target("temporal", address, temporal=options, secrets=Secrets([options.api_key]))


# -- opened backends ----------------------------------------------------------------------------------------


class Backend:
    """An opened target: its store, and executors for the calls that talk to runs."""

    def __init__(self, target: Target, store: WorkflowStore, client: Any = None) -> None:
        self.target = target
        self.store = store
        self._client = client

    @property
    def label(self) -> str:
        return self.target.label()

    @asynccontextmanager
    async def executor(self, workflows: Sequence[WorkflowFunction] = ()) -> AsyncIterator[DurableExecutor]:
        """An executor over this backend; ``workflows`` give the code for user queries and result types.

        On a store several processes share (SQLite, NATS) it is a client, ``DefaultExecutor(worker=False)``: it
        runs no workflow, and its signals and cancels of a run another process owns go through the store's
        inbox to that process. On another store (run by one executor at a time) it is started with no workflow
        registered, so it resumes none; ``workflows`` are registered after the start.
        """
        if self.target.kind == "temporal":
            from beluga_temporal import TemporalExecutor

            yield TemporalExecutor(self._client, task_queue=_CLI_TASK_QUEUE, workflows=workflows)
            return
        from ..executor import DefaultExecutor

        if isinstance(self.store, LeasingStore):
            async with DefaultExecutor(store=self.store, workflows=workflows, worker=False) as client:
                yield client
            return
        executor = DefaultExecutor(store=self.store)
        with quiet_resume_warnings():
            async with executor:
                for fn in workflows:  # after the start: known for queries and results, never resumed here
                    executor.register(fn)
                yield executor

    @property
    def temporal_client(self) -> Any:
        return self._client


@asynccontextmanager
async def open_backend(target: Target) -> AsyncIterator[Backend]:
    """Open ``target``; its store is closed on exit."""
    store: WorkflowStore
    client = None
    if target.kind == "sqlite":
        if not Path(target.location).is_file():
            raise OperatorError(
                f"no SQLite store at {target.location!r} (give --db PATH or set BELUGA_DB; "
                "or --nats URL, --temporal HOST:PORT)"
            )
        from ..stores import SQLiteStore

        store = SQLiteStore(target.location)
    elif target.kind == "nats":
        from ..stores import NatsStore

        try:
            store = NatsStore(target.location, bucket=target.bucket)
        except ImportError as exc:
            raise OperatorError(
                f"--nats needs the NATS client: pip install 'beluga-temporal[nats]' ({exc})"
            ) from exc
    else:
        from beluga_temporal import TemporalStore

        assert target.temporal is not None
        client = await connect_temporal(target.temporal, target.secrets)
        store = TemporalStore(client, namespace=target.temporal.namespace)
    try:
        yield Backend(target, store, client)
    finally:
        await store.close()


async def connect_temporal(options: TemporalOptions, secrets: Secrets) -> Any:
    """A Temporal client with :class:`~beluga_temporal.BelugaPlugin`, TLS and API key as the options say."""
    from temporalio.client import Client

    from beluga_temporal import BelugaPlugin

    try:
        connecting = Client.connect(
            options.address,
            namespace=options.namespace,
            api_key=options.api_key,
            tls=temporal_tls(options),
            plugins=[BelugaPlugin()],
        )
        return await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
    except asyncio.TimeoutError:
        raise OperatorError(
            f"cannot connect to Temporal at {options.address}: no answer within {CONNECT_TIMEOUT:.0f}s"
        ) from None
    except (RuntimeError, OSError) as exc:
        raise OperatorError(
            f"cannot connect to Temporal at {options.address}: {_connect_failure(secrets.scrub(str(exc)))}"
        ) from None
    finally:
        _CONNECTED.append(True)  # even a failed connect starts Temporal's runtime threads


_CONNECTED: list[bool] = []


def temporal_connected() -> bool:
    """Whether this process has connected (or tried to connect) to Temporal."""
    return bool(_CONNECTED)


def _connect_failure(text: str) -> str:
    """The reason in the client's connect error: the OS's message (``Connection refused``) when it has one."""
    found = re.search(r'message: "([^"]+)"', text)
    if found:
        return found[1].lower()
    return " ".join(text.replace("Failed client connect:", "").split()) or "failed"


def temporal_tls(options: TemporalOptions) -> Any:
    """``Client.connect``'s ``tls``: a ``TLSConfig`` for certificates, a CA or a server name, else a bool."""
    from temporalio.service import TLSConfig

    if options.tls is False:
        if options.tls_cert or options.tls_ca or options.tls_server_name:
            raise OperatorError("--no-tls contradicts --tls-cert/--tls-ca/--tls-server-name")
        return False
    if options.tls_cert or options.tls_ca or options.tls_server_name:
        return TLSConfig(
            server_root_ca_cert=_read(options.tls_ca, "--tls-ca"),
            client_cert=_read(options.tls_cert, "--tls-cert"),
            client_private_key=_read(options.tls_key, "--tls-key"),
            domain=options.tls_server_name,
        )
    return bool(options.tls) or options.api_key is not None


def _read(path: str | None, option: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise OperatorError(f"{option} {path!r}: cannot read it ({exc.strerror or exc})") from None


class _DropNotResumed(logging.Filter):
    """Drops the executor's "running in the store but not registered here; not resumed" warnings: an
    operator tool registers no workflow, so it resumes none on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "not registered here; not resumed" not in str(record.msg)


@contextmanager
def quiet_resume_warnings() -> Iterator[None]:
    logger = logging.getLogger("beluga_core.executor")
    dropping = _DropNotResumed()
    logger.addFilter(dropping)
    try:
        yield
    finally:
        logger.removeFilter(dropping)
