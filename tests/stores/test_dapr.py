"""DaprStore against the Dapr state API stand-in: the id index across instances, keys, bulk listing, errors.

The stand-in (``tests/standins/dapr_standin.py``) replaces the Dapr sidecar, which cannot be installed here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from beluga_core.stores import DaprStore
from beluga_core.stores._dapr import INDEX_KEY, state_key
from beluga_core.workflow import StoreError, WorkflowStatus
from tests.standins.dapr_standin import DaprStandin

from .conftest import StoreBackend, connected
from .test_store_conformance import make_state

OpenStore = Callable[[], Awaitable[DaprStore]]


@pytest.fixture
def standin() -> Iterator[DaprStandin]:
    with DaprStandin() as server:
        yield server


@pytest.fixture
async def open_store(standin: DaprStandin) -> AsyncIterator[OpenStore]:
    """Opens store instances on the same sidecar (as separate processes would); all closed at the end."""
    instances = StoreBackend("dapr", lambda: connected(DaprStore(standin.url, timeout=5.0)), shared=True)
    yield instances.open
    await instances.close_all()


@pytest.fixture
async def store(open_store: OpenStore) -> DaprStore:
    return await open_store()


def indexed_ids(standin: DaprStandin) -> list[str]:
    value, _ = standin.stores["statestore"][INDEX_KEY]
    ids: list[str] = json.loads(value)["ids"]
    return ids


# -- the index --


async def test_list_shows_workflows_saved_by_every_instance(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    await first.save(make_state("from-first", created_offset=1))
    await second.save(make_state("from-second", created_offset=2))
    third = await open_store()
    assert [s.workflow_id for s in await third.list()] == ["from-second", "from-first"]


async def test_index_update_that_loses_a_race_is_retried(store: DaprStore, standin: DaprStandin) -> None:
    await store.save(make_state("first"))

    def concurrent_writer(server: DaprStandin, data: dict[str, tuple[bytes, str]]) -> None:
        server.before_save = None  # once
        server.put(data, INDEX_KEY, {"ids": ["first", "written-meanwhile"]})

    standin.before_save = concurrent_writer
    await store.save(make_state("second"))
    assert standin.conflicts == 1
    assert indexed_ids(standin) == ["first", "second", "written-meanwhile"]


async def test_concurrent_instances_lose_no_ids(open_store: OpenStore, standin: DaprStandin) -> None:
    stores = [await open_store() for _ in range(8)]
    await stores[0].save(make_state("wf-0"))  # the index exists: every update below is etag-checked
    await asyncio.gather(*(s.save(make_state(f"wf-{i}", created_offset=i)) for i, s in enumerate(stores)))
    assert indexed_ids(standin) == [f"wf-{i}" for i in range(8)]


async def test_delete_removes_the_id_from_the_index(store: DaprStore, standin: DaprStandin) -> None:
    await store.save(make_state("kept"))
    await store.save(make_state("gone"))
    await store.delete("gone")
    assert indexed_ids(standin) == ["kept"]
    assert state_key("gone") not in standin.stores["statestore"]


async def test_later_saves_of_a_workflow_do_not_touch_the_index(
    store: DaprStore, standin: DaprStandin
) -> None:
    await store.save(make_state("wf"))
    standin.requests.clear()
    await store.save(make_state("wf", status=WorkflowStatus.COMPLETED))
    assert standin.requests == [("POST", "/v1.0/state/statestore")]


async def test_list_is_one_index_read_and_one_bulk_get(store: DaprStore, standin: DaprStandin) -> None:
    for i in range(50):
        await store.save(make_state(f"wf-{i}", created_offset=i))
    standin.requests.clear()
    assert len(await store.list()) == 50
    assert standin.requests == [
        ("GET", f"/v1.0/state/statestore/{INDEX_KEY}"),
        ("POST", "/v1.0/state/statestore/bulk"),
    ]


async def test_indexed_id_without_a_state_reads_as_missing(store: DaprStore, standin: DaprStandin) -> None:
    await store.save(make_state("real"))
    standin.put(standin.stores["statestore"], INDEX_KEY, {"ids": ["real", "saved-by-a-crashed-process"]})
    assert [s.workflow_id for s in await store.list()] == ["real"]


async def test_corrupt_index_makes_list_fail(store: DaprStore, standin: DaprStandin) -> None:
    standin.put(standin.stores["statestore"], INDEX_KEY, ["not", "an", "index"])
    with pytest.raises(StoreError, match=rf"^dapr/list: index '{INDEX_KEY}' is corrupt"):
        await store.list()


# -- keys --


@pytest.mark.parametrize("workflow_id", ["a||b", "order/1?x#y", "100%"])
async def test_ids_are_escaped_into_valid_dapr_keys(
    store: DaprStore, standin: DaprStandin, workflow_id: str
) -> None:
    state = make_state(workflow_id)
    await store.save(state)
    (key,) = (k for k in standin.stores["statestore"] if k != INDEX_KEY)
    assert "||" not in key and "/" not in key
    assert await store.load(workflow_id) == state


# -- sidecar errors --


async def test_api_token_is_sent_when_set(standin: DaprStandin) -> None:
    standin.api_token = "secret"
    async with DaprStore(standin.url, api_token="secret") as store:
        await store.save(make_state("wf"))
        assert await store.load("wf") == make_state("wf")


async def test_missing_api_token_is_a_store_error(standin: DaprStandin) -> None:
    standin.api_token = "secret"
    async with DaprStore(standin.url) as store:
        with pytest.raises(StoreError, match=r"^dapr/load: GET .*: HTTP 401 Unauthorized: .*dapr-api-token"):
            await store.load("wf")


async def test_unknown_state_store_is_a_store_error(standin: DaprStandin) -> None:
    async with DaprStore(standin.url, store_name="nosuchstore") as store:
        with pytest.raises(StoreError, match=r"^dapr/save: GET .*: HTTP 400 .*ERR_STATE_STORE_NOT_FOUND"):
            await store.save(make_state("wf"))


async def test_the_api_token_travels_only_in_its_header_never_in_a_url_or_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "dapr-token-in-header-only"
    with DaprStandin(api_token=token) as standin:
        async with DaprStore(standin.url, api_token=token) as store:
            await store.save(make_state("a"))
            assert [s.workflow_id for s in await store.list()] == ["a"]
            await store.delete("a")
    assert len(standin.received) >= 4
    assert all(request.headers["dapr-api-token"] == token for request in standin.received)
    assert not [request.line for request in standin.received if token in request.line]
    assert token not in caplog.text


async def test_a_password_in_the_base_url_is_sent_as_basic_auth_and_left_out_of_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with DaprStandin() as standin:
        url = standin.url.replace("http://", "http://ops:url-pass-9@")
        async with DaprStore(url) as store:
            await store.load("a")
        assert store.base_url == standin.url
    (request,) = standin.received
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"ops:url-pass-9").decode()
    assert "url-pass-9" not in request.line
    assert "url-pass-9" not in caplog.text
