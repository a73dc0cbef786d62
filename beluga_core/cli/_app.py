"""The ``beluga`` command: look at and act on workflows in any store, or on Temporal.

::

    beluga [--db PATH | --nats URL [--bucket B] | --temporal HOST:PORT [--namespace NS]] COMMAND ...

Commands: ``list``, ``show``, ``result``, ``signal``, ``cancel``, ``query``, ``replay``, ``ui``. Operator
errors print one line (``beluga: ...``) and exit non-zero without a traceback; ``--debug`` shows it. Exit
codes: 0 done, 1 an error (or, for ``result``, a failed or canceled workflow; for ``replay``, a history
that diverged), 2 a usage error, 3 ``result`` of a workflow still running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic_core import to_jsonable_python

from ..api._types import Signal, WorkflowFilter, WorkflowState, WorkflowStatus
from ..api.errors import QueryFailedError, WorkflowError, WorkflowNotFoundError
from ..ui._shapes import newest_first
from . import _output as out
from ._errors import STILL_RUNNING, OperatorError
from ._replay import Replayed, replay_stored, replay_temporal
from ._stores import (
    DEFAULT_DB,
    Backend,
    Target,
    TemporalOptions,
    open_backend,
    select_target,
    temporal_connected,
)
from ._workflows import load_workflows

_STATUSES = [status.value for status in WorkflowStatus]
_LOG_FORMAT = "beluga: %(levelname)s %(name)s: %(message)s"


@dataclass
class Settings:
    target: Target | None
    workflows: str | None
    debug: bool
    target_error: OperatorError | None = None


def _on_command_line(ctx: click.Context, *names: str) -> list[str]:
    """The options among ``names`` given on the command line."""
    return [
        "--" + name.replace("_", "-")
        for name in names
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--db", metavar="PATH", help="SQLite file of a DefaultExecutor [default: $BELUGA_DB, else beluga.db]"
)
@click.option("--nats", metavar="URL", help="NATS server of a NatsStore (nats://[user:pass@]host:port)")
@click.option("--bucket", metavar="B", help="the NatsStore's key-value bucket [default: beluga_workflows]")
@click.option(
    "--temporal",
    metavar="HOST:PORT",
    help="a Temporal frontend [$TEMPORAL_ADDRESS, when no beluga.db is here]",
)
@click.option(
    "--namespace",
    metavar="NS",
    envvar="TEMPORAL_NAMESPACE",
    default="default",
    show_default=True,
    help="Temporal namespace [$TEMPORAL_NAMESPACE]",
)
@click.option(
    "--api-key", metavar="KEY", envvar="TEMPORAL_API_KEY", help="Temporal API key [$TEMPORAL_API_KEY]"
)
@click.option(
    "--tls/--no-tls",
    default=None,
    envvar="TEMPORAL_TLS",
    help="TLS to Temporal [default: on with a certificate, a CA or an API key; $TEMPORAL_TLS]",
)
@click.option(
    "--tls-cert",
    metavar="PATH",
    envvar=["TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CLIENT_CERT_PATH"],
    help="client certificate for mTLS [$TEMPORAL_TLS_CERT]",
)
@click.option(
    "--tls-key",
    metavar="PATH",
    envvar=["TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CLIENT_KEY_PATH"],
    help="its private key [$TEMPORAL_TLS_KEY]",
)
@click.option(
    "--tls-ca",
    metavar="PATH",
    envvar=["TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"],
    help="CA certificate(s) to trust [default: the system's; $TEMPORAL_TLS_CA]",
)
@click.option(
    "--tls-server-name",
    metavar="NAME",
    envvar="TEMPORAL_TLS_SERVER_NAME",
    help="server name to verify [$TEMPORAL_TLS_SERVER_NAME]",
)
@click.option(
    "--workflows",
    "workflows",
    metavar="MODULE[:ATTR]",
    help="workflow code (a module's WORKFLOWS list, or ATTR): for user queries and replay",
)
@click.option("--debug", is_flag=True, help="show tracebacks and debug logs")
@click.version_option(package_name="beluga-temporal", prog_name="beluga")
@click.pass_context
def cli(
    ctx: click.Context,
    db: str | None,
    nats: str | None,
    bucket: str | None,
    temporal: str | None,
    namespace: str,
    api_key: str | None,
    tls: bool | None,
    tls_cert: str | None,
    tls_key: str | None,
    tls_ca: str | None,
    tls_server_name: str | None,
    workflows: str | None,
    debug: bool,
) -> None:
    """Look at and act on durable workflows: in a SQLite file, a NATS bucket, or on Temporal.

    The store is the one option given; with none, the SQLite file $BELUGA_DB, else beluga.db in the current
    directory, else (no such file) the Temporal frontend $TEMPORAL_ADDRESS when it is set.
    """
    # Commands report failures themselves, in one line: library warnings (a store's connection retries)
    # would only repeat them. --debug shows everything; the UI, a long-running process, logs warnings.
    logging.basicConfig(level=logging.DEBUG if debug else logging.ERROR, format=_LOG_FORMAT)
    address = temporal
    if not (db or nats or temporal or os.environ.get("BELUGA_DB")) and not Path(DEFAULT_DB).exists():
        address = os.environ.get("TEMPORAL_ADDRESS") or None  # the temporal CLI's variable
    settings = Settings(None, workflows, debug)
    try:
        if address is None:
            stray = _on_command_line(
                ctx, "namespace", "api_key", "tls", "tls_cert", "tls_key", "tls_ca", "tls_server_name"
            )
            if stray:
                raise OperatorError(f"{', '.join(stray)}: only with --temporal HOST:PORT")
        options = None
        if address is not None:
            options = TemporalOptions(
                address, namespace, api_key, tls, tls_cert, tls_key, tls_ca, tls_server_name
            )
        settings.target = select_target(db=db, nats=nats, bucket=bucket, temporal=options)
    except OperatorError as exc:
        settings.target_error = exc  # reported when a command needs the store (--help still works)
    ctx.obj = settings


def main(argv: list[str] | None = None) -> None:
    """The console script ``beluga`` (and ``python -m beluga_core``).

    After a command that used Temporal the process leaves with ``os._exit``: Temporal's Rust core keeps
    threads that can abort the interpreter while it finalizes (temporalio/sdk-python issue 300), which would
    turn a finished command into a crash with exit code 134.
    """
    try:
        cli.main(args=argv, prog_name="beluga")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not temporal_connected():
            raise
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# -- running a command ----------------------------------------------------------------------------------


def _settings() -> Settings:
    return click.get_current_context().find_object(Settings)  # type: ignore[return-value]


def _run(work: Callable[[Backend], Awaitable[int | None]]) -> None:
    """Open the store, run ``work`` on it, and exit with its code; every failure is one line on stderr."""
    settings = _settings()
    target = settings.target
    scrub = target.scrub if target is not None else (lambda text: text)
    try:
        if settings.target_error is not None:
            raise settings.target_error
        assert target is not None
        code = asyncio.run(_with_backend(target, work))
    except KeyboardInterrupt:
        _fail("interrupted", 130, settings, scrub)
    except OperatorError as exc:
        _fail(str(exc), exc.code, settings, scrub)
    except WorkflowNotFoundError as exc:
        where = f" in {target.label()}" if target is not None else ""
        _fail(f"{exc}{where}", 1, settings, scrub)
    except WorkflowError as exc:
        _fail(str(exc), 1, settings, scrub)
    except Exception as exc:
        _fail(
            f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            1,
            settings,
            scrub,
        )
    sys.stdout.flush()
    sys.exit(code or 0)


async def _with_backend(target: Target, work: Callable[[Backend], Awaitable[int | None]]) -> int | None:
    async with open_backend(target) as backend:
        return await work(backend)


def _fail(message: str, code: int, settings: Settings, scrub: Callable[[str], str]) -> NoReturn:
    if settings.debug and sys.exc_info()[1] is not None:
        sys.stderr.write(scrub("".join(traceback.format_exception(*sys.exc_info()))))
    first_line = " ".join(scrub(message).split())
    sys.stderr.write(f"beluga: {first_line}\n")
    sys.stderr.flush()
    sys.exit(code)


def _workflow_code(required_by: str | None = None, spec: str | None = None) -> list[Any]:
    spec = spec or _settings().workflows
    if spec is None:
        if required_by is not None:
            raise OperatorError(f"{required_by} needs the workflow code: give --workflows MODULE[:ATTR]")
        return []
    return load_workflows(spec)


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value)


# -- commands -------------------------------------------------------------------------------------------


@cli.command("list")
@click.option("--status", type=click.Choice(_STATUSES), help="only workflows with this status")
@click.option("--type", "workflow_type", metavar="T", help="only workflows of this type")
@click.option("--limit", type=int, metavar="N", help="at most N workflows (0: all)")
@click.option("--json", "as_json", is_flag=True, help="print a JSON array (WorkflowState without history)")
def list_command(status: str | None, workflow_type: str | None, limit: int | None, as_json: bool) -> None:
    """Workflows, newest first."""

    async def work(backend: Backend) -> None:
        wanted = WorkflowFilter(
            status=WorkflowStatus(status) if status else None, workflow_type=workflow_type, limit=limit
        )
        states = newest_first(await backend.store.list(wanted))
        if wanted.max_results is not None:
            states = states[: wanted.max_results]
        if as_json:
            out.print_json(out.list_json(states))
        else:
            console = out.console()
            console.print(out.list_table(states, backend.label, console.width))

    _run(work)


@cli.command("show")
@click.argument("workflow_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object (WorkflowState with history)")
def show_command(workflow_id: str, as_json: bool) -> None:
    """Status, input, result or error, and the history as a table."""

    async def work(backend: Backend) -> None:
        state = await _load(backend, workflow_id)
        if as_json:
            out.print_json(out.show_json(state))
            return
        console = out.console()
        console.print(out.show_header(state))
        console.print()
        console.print(out.history_table(state, console.width))

    _run(work)


@cli.command("result")
@click.argument("workflow_id", metavar="ID")
@click.option(
    "--wait", type=click.FloatRange(min=0), metavar="SECONDS", help="wait this long for it to finish"
)
def result_command(workflow_id: str, wait: float | None) -> None:
    """The result (JSON on stdout); exit 1 with the error if it failed, 3 if it is still running."""

    async def work(backend: Backend) -> int:
        async with backend.executor() as executor:
            handle = await executor.get_handle(workflow_id)
            if not wait and not (await handle.status()).is_terminal:
                raise OperatorError(
                    f"workflow {workflow_id!r} is still running (give --wait SECONDS to wait for it)",
                    STILL_RUNNING,
                )
            try:
                value = await handle.result(timeout=wait or None)
            except TimeoutError as exc:
                if isinstance(exc, WorkflowError):
                    raise
                raise OperatorError(
                    f"workflow {workflow_id!r} is still running after {out.human_duration(wait or 0)}",
                    STILL_RUNNING,
                ) from None
        out.print_value(_jsonable(value))
        return 0

    _run(work)


@cli.command("signal")
@click.argument("workflow_id", metavar="ID")
@click.argument("name")
@click.argument("payload", metavar="[PAYLOAD_JSON]", required=False)
def signal_command(workflow_id: str, name: str, payload: str | None) -> None:
    """Send signal NAME (with a JSON payload) to a running workflow."""
    value = _parse_payload(payload, name)

    async def work(backend: Backend) -> None:
        async with backend.executor() as executor:
            await executor.signal(workflow_id, Signal(name=name, payload=value))
        out.console(stderr=True).print(f"signal {name!r} sent to workflow {workflow_id!r}")

    _run(work)


def _parse_payload(payload: str | None, name: str) -> Any:
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except ValueError as exc:
        settings = _settings()
        hint = " (a JSON string needs its quotes: '\"yes\"')" if payload[:1].isalpha() else ""
        _fail(
            f"bad PAYLOAD_JSON for signal {name!r}: {exc}{hint}",
            2,
            settings,
            settings.target.scrub if settings.target else (lambda text: text),
        )


@cli.command("cancel")
@click.argument("workflow_id", metavar="ID")
def cancel_command(workflow_id: str) -> None:
    """Request the cancellation of a running workflow."""

    async def work(backend: Backend) -> None:
        async with backend.executor() as executor:
            await executor.cancel(workflow_id)
        out.console(stderr=True).print(f"cancellation of workflow {workflow_id!r} requested")

    _run(work)


@cli.command("query")
@click.argument("workflow_id", metavar="ID")
@click.argument("name")
def query_command(workflow_id: str, name: str) -> None:
    """Ask a workflow a query (status, result, or one of its handlers: needs --workflows off Temporal)."""

    async def work(backend: Backend) -> None:
        code = _workflow_code()
        async with backend.executor(code) as executor:
            try:
                answer = await executor.query(workflow_id, name)
            except QueryFailedError as exc:
                if exc.cause_type == "WorkflowNotRegistered" and not code:
                    raise OperatorError(
                        f"query {name!r} of workflow {workflow_id!r} needs the workflow code to replay its "
                        "history: give --workflows MODULE[:ATTR]"
                    ) from exc
                raise
        out.print_value(_jsonable(answer))

    _run(work)


@cli.command("replay")
@click.option("--workflows", "spec", metavar="MODULE[:ATTR]", help="the current workflow code")
@click.argument("workflow_ids", metavar="[ID ...]", nargs=-1)
def replay_command(spec: str | None, workflow_ids: tuple[str, ...]) -> None:
    """Re-run stored histories against the current code: exit 0 when every one replays.

    Without IDs, every stored run whose type is among the workflows given.
    """

    async def work(backend: Backend) -> int:
        code = _workflow_code("replay", spec)
        states = await _replay_selection(backend, workflow_ids, code)
        if backend.target.kind == "temporal":
            runs = await replay_temporal(backend.temporal_client, states, code, quiet=not _settings().debug)
        else:
            runs = await replay_stored(states, code)
        return _report_replay(runs, backend.label)

    _run(work)


async def _replay_selection(
    backend: Backend, workflow_ids: tuple[str, ...], code: list[Any]
) -> list[WorkflowState]:
    if workflow_ids:
        return [await _load(backend, workflow_id) for workflow_id in workflow_ids]
    from ..api._naming import function_name

    names = {function_name(fn) for fn in code}
    listed = await backend.store.list(WorkflowFilter())
    selected = [state for state in newest_first(listed) if state.workflow_type in names]
    if backend.target.kind == "temporal":
        return selected  # the replayer fetches each history itself
    return [
        state for state in [await backend.store.load(s.workflow_id) for s in selected] if state is not None
    ]


def _report_replay(runs: list[Replayed], source: str) -> int:
    console = out.console()
    diverged = [run for run in runs if run.divergence is not None]
    for run in runs:
        if run.divergence is None:
            console.print(
                f"[green]ok[/]        {run.workflow_id} ({run.workflow_type}, {run.status})", markup=True
            )
        else:
            console.print(
                f"[bold red]diverged[/]  {run.workflow_id} ({run.workflow_type}, {run.status}): ",
                markup=True,
                end="",
            )
            console.print(run.divergence, markup=False, highlight=False)
    plural = "" if len(runs) == 1 else "s"
    if diverged:
        console.print(
            f"{len(runs)} run{plural} replayed from {source}: [bold red]{len(diverged)} diverged[/]"
        )
        return 1
    console.print(f"{len(runs)} run{plural} replayed from {source}: [green]all fit the code[/]")
    return 0


@cli.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option(
    "--port", default=8233, show_default=True, type=click.IntRange(0, 65535), help="port (0: any free one)"
)
@click.option(
    "--read-only", is_flag=True, help="no signal or cancel: hide the buttons, refuse the POST routes"
)
def ui_command(host: str, port: int, read_only: bool) -> None:
    """The local web UI: the workflow list and each run's timeline."""
    settings = _settings()

    async def work(backend: Backend) -> None:
        try:
            import uvicorn

            from ..ui import create_app
        except ImportError as exc:
            raise OperatorError(
                f"the web UI needs its extra: pip install 'beluga-temporal[ui]' ({exc})"
            ) from None
        from ..ui._security import LOOPBACK_NAMES, is_loopback

        if not settings.debug:
            logging.getLogger().setLevel(logging.WARNING)
            logging.getLogger("beluga_core.ui").setLevel(logging.INFO)
        sock = _listen(host, port)
        bound_port = sock.getsockname()[1]
        loopback = is_loopback(host)
        async with backend.executor() as executor:
            app = create_app(
                backend.store,
                None if read_only else executor,
                read_only=read_only,
                source=backend.label,
                allowed_hosts=set(LOOPBACK_NAMES) if loopback else None,
                scrub=backend.target.scrub,
            )
            shown = f"[{host}]" if ":" in host else host
            err = out.console(stderr=True)
            if not loopback:
                err.print(
                    f"[bold yellow]warning:[/] the UI listens on {host}, not a loopback address: anyone who can "
                    f"reach port {bound_port} here can see these workflows"
                    + ("" if read_only else " and signal or cancel them (consider --read-only)"),
                    markup=True,
                )
            err.print(f"beluga UI for {backend.label} on http://{shown}:{bound_port}/ (Ctrl-C to stop)")
            config = uvicorn.Config(app, log_level="debug" if settings.debug else "warning", lifespan="off")
            await uvicorn.Server(config).serve(sockets=[sock])

    _run(work)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OperatorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


# -- helpers --------------------------------------------------------------------------------------------


async def _load(backend: Backend, workflow_id: str) -> WorkflowState:
    state = await backend.store.load(workflow_id)
    if state is None:
        raise WorkflowNotFoundError(workflow_id)
    return state
