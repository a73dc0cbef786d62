"""InngestStore against the stand-in for the seed's ``/v1/workflows`` protocol: escaping, auth, timeouts.

The stand-in (``tests/standins/inngest_standin.py``) replaces an Inngest server, which cannot be installed
here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from beluga_core.stores import InngestStore
from beluga_core.workflow import StoreError, WorkflowFilter, WorkflowStatus
from tests.fixtures._servers import free_port
from tests.standins.inngest_standin import InngestStandin

from .test_store_conformance import make_state

KEY = "event-key"


@pytest.fixture
def standin() -> Iterator[InngestStandin]:
    with InngestStandin(event_key=KEY) as server:
        yield server


@pytest.fixture
async def store(standin: InngestStandin) -> AsyncIterator[InngestStore]:
    async with InngestStore(standin.url, event_key=KEY, timeout=2.0) as opened:
        yield opened


async def seed_running_and_completed(store: InngestStore) -> None:
    await store.save(make_state("r1", created_offset=1))
    await store.save(make_state("c1", status=WorkflowStatus.COMPLETED, created_offset=2))
    await store.save(make_state("r2", created_offset=3))
    await store.save(make_state("r3", created_offset=4))


# -- ids --


async def test_id_is_sent_as_one_escaped_path_segment(store: InngestStore, standin: InngestStandin) -> None:
    await store.save(make_state("a/b?c#d %"))
    assert standin.requests[-1] == ("PUT", "/v1/workflows/a%2Fb%3Fc%23d%20%25")
    assert list(standin.workflows) == ["a/b?c#d %"]


async def test_escaped_id_loads_and_deletes(store: InngestStore, standin: InngestStandin) -> None:
    state = make_state("../../admin")
    await store.save(state)
    assert await store.load("../../admin") == state
    await store.delete("../../admin")
    assert standin.workflows == {}


# -- listing --


async def test_list_sends_the_filter_as_query_parameters(
    store: InngestStore, standin: InngestStandin
) -> None:
    await seed_running_and_completed(store)
    listed = await store.list(WorkflowFilter(status=WorkflowStatus.RUNNING, workflow_type="order", limit=2))
    method, path = standin.requests[-1]
    assert (method, urlsplit(path).path) == ("GET", "/v1/workflows")
    assert parse_qs(urlsplit(path).query) == {"status": ["running"], "type": ["order"], "limit": ["2"]}
    assert [s.workflow_id for s in listed] == ["r3", "r2"]


async def test_list_filters_itself_when_the_server_ignores_the_query(
    store: InngestStore, standin: InngestStandin
) -> None:
    await seed_running_and_completed(store)
    standin.ignore_query = True
    listed = await store.list(WorkflowFilter(status=WorkflowStatus.RUNNING, limit=2))
    assert [s.workflow_id for s in listed] == ["r3", "r2"]


async def test_list_is_one_request(store: InngestStore, standin: InngestStandin) -> None:
    for i in range(30):
        await store.save(make_state(f"wf-{i}", created_offset=i))
    standin.requests.clear()
    assert len(await store.list()) == 30
    assert len(standin.requests) == 1


# -- authentication, timeouts, server errors --


async def test_wrong_event_key_is_a_store_error(standin: InngestStandin) -> None:
    async with InngestStore(standin.url, event_key="wrong") as store:
        with pytest.raises(StoreError, match=r"^inngest/save: PUT /v1/workflows/wf: HTTP 401 Unauthorized"):
            await store.save(make_state("wf"))
    assert standin.workflows == {}


async def test_slow_server_is_a_store_error_naming_the_timeout(standin: InngestStandin) -> None:
    standin.delay = 1.0
    async with InngestStore(standin.url, event_key=KEY, timeout=0.2) as store:
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreError, match=r"^inngest/load: GET /v1/workflows/wf: no answer within 0.2s"):
            await store.load("wf")
        assert asyncio.get_running_loop().time() - started < 0.9


async def test_server_error_is_a_store_error(store: InngestStore, standin: InngestStandin) -> None:
    standin.fail_with = 503
    with pytest.raises(
        StoreError, match=r"^inngest/delete: DELETE /v1/workflows/wf: HTTP 503 .*failing on purpose"
    ):
        await store.delete("wf")


async def test_unreachable_server_is_a_store_error() -> None:
    async with InngestStore(f"http://127.0.0.1:{free_port()}", timeout=1.0) as store:
        with pytest.raises(StoreError, match=r"^inngest/list: GET /v1/workflows: .*ConnectError"):
            await store.list()


async def test_the_event_key_travels_only_in_the_bearer_header_never_in_a_url_or_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with InngestStandin(event_key=KEY) as standin:
        async with InngestStore(standin.url, event_key=KEY) as store:
            await store.save(make_state("a"))
            await store.load("a")
            await store.list(WorkflowFilter(status=WorkflowStatus.RUNNING))
            await store.delete("a")
    assert len(standin.received) == 4
    assert all(request.headers["authorization"] == f"Bearer {KEY}" for request in standin.received)
    assert not [request.line for request in standin.received if KEY in request.line]
    assert KEY not in caplog.text
