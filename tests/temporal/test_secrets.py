"""No Temporal API key is shown: not in the errors of the executor and the store, their reprs, or the logs.

The dev server does not check API keys (nor speak TLS, so the client is told not to), so a key is planted on
a client of it: every call goes through with the key in its metadata, and what a failing call raises is
scanned for it; so is the error of a connection to a port where no server listens.
"""

from __future__ import annotations

import logging
import socket
import traceback
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from beluga_core.workflow import Signal, WorkflowNotFoundError
from beluga_temporal import BelugaPlugin, TemporalExecutor, TemporalStore

SECRET = "planted-api-K3y-q7z"


def _shown(thing: Any) -> str:
    if isinstance(thing, BaseException):
        return repr(thing) + str(thing) + "".join(traceback.format_exception(thing))
    return repr(thing)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_no_api_key_in_errors_reprs_or_logs_of_the_executor_and_store(
    temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    address = temporal_env.client.service_client.config.target_host
    client = await Client.connect(address, api_key=SECRET, tls=False, plugins=[BelugaPlugin()])
    executor = TemporalExecutor(client, task_queue="secrets")
    store = TemporalStore(client)
    seen: list[Any] = [executor, store]
    for call in (
        lambda: executor.signal("no-such-workflow", Signal(name="go")),
        lambda: executor.cancel("no-such-workflow"),
        lambda: executor.query("no-such-workflow", "status"),
    ):
        with pytest.raises(WorkflowNotFoundError) as caught:
            await call()
        seen.append(caught.value)
    assert await store.load("no-such-workflow") is None
    with pytest.raises(RuntimeError) as refused:
        await Client.connect(
            f"127.0.0.1:{_closed_port()}", api_key=SECRET, tls=False, plugins=[BelugaPlugin()]
        )
    seen.append(refused.value)

    for thing in seen:
        assert SECRET not in _shown(thing), _shown(thing)
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert SECRET not in logged
