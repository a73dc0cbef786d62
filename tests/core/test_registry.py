"""The executor registry: register, new, list_providers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from beluga_core.executor import DefaultExecutor
from beluga_core.stores import InMemoryStore, SQLiteStore
from beluga_core.workflow import (
    Config,
    DurableExecutor,
    Hooks,
    InvalidInputError,
    Signal,
    list_providers,
    new,
    register,
)
from beluga_core.workflow._registry import _unregister

from .fakes import FakeExecutor
from .workflows import greeting, wait_for_go


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names registered by a test; unregistered afterwards so tests do not leak providers."""
    names: list[str] = []
    yield names
    for name in names:
        _unregister(name)


def _register(registered: list[str], name: str, factory: Any) -> None:
    register(name, factory)
    registered.append(name)


def test_default_provider_is_built_in() -> None:
    assert "default" in list_providers()


def test_list_providers_is_sorted(registered: list[str]) -> None:
    _register(registered, "zeta-test", lambda config: FakeExecutor())
    _register(registered, "alpha-test", lambda config: FakeExecutor())
    providers = list_providers()
    assert providers == sorted(providers)
    assert {"alpha-test", "default", "zeta-test"} <= set(providers)


def test_new_builds_the_executor_from_the_registered_factory(registered: list[str]) -> None:
    made = FakeExecutor()
    _register(registered, "fake-test", lambda config: made)
    assert new("fake-test") is made


def test_new_passes_the_config_to_the_factory(registered: list[str]) -> None:
    received: list[Config] = []

    def factory(config: Config) -> DurableExecutor:
        received.append(config)
        return FakeExecutor()

    _register(registered, "fake-test", factory)
    config = Config(hooks=Hooks(), extra={"task_queue": "q"})
    new("fake-test", config)
    assert received == [config]


def test_new_without_config_passes_an_empty_config(registered: list[str]) -> None:
    received: list[Config] = []
    _register(registered, "fake-test", lambda config: received.append(config) or FakeExecutor())
    new("fake-test")
    assert received == [Config()]
    assert received[0].store is None and received[0].hooks is None and received[0].extra == {}


def test_config_instances_do_not_share_extra() -> None:
    first, second = Config(), Config()
    first.extra["client"] = object()
    assert second.extra == {}


def test_new_unknown_provider_lists_the_registered_ones(registered: list[str]) -> None:
    _register(registered, "fake-test", lambda config: FakeExecutor())
    with pytest.raises(InvalidInputError) as caught:
        new("nope")
    assert "'nope'" in str(caught.value)
    assert "registered: default, fake-test" in str(caught.value)


def test_new_rejects_a_factory_that_returns_no_executor(registered: list[str]) -> None:
    _register(registered, "broken-test", lambda config: None)
    with pytest.raises(InvalidInputError, match="'broken-test' returned NoneType, not a DurableExecutor"):
        new("broken-test")


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_register_rejects_an_empty_or_non_string_name(name: Any) -> None:
    with pytest.raises(ValueError, match="provider name must be a non-empty string"):
        register(name, lambda config: FakeExecutor())
    assert name not in list_providers()


@pytest.mark.parametrize("factory", [None, "not callable"])
def test_register_rejects_a_missing_or_non_callable_factory(factory: Any) -> None:
    with pytest.raises(ValueError, match="factory for provider 'bad-test' must be callable"):
        register("bad-test", factory)
    assert "bad-test" not in list_providers()


def test_register_rejects_a_second_registration_and_keeps_the_first(registered: list[str]) -> None:
    first = FakeExecutor()
    _register(registered, "dup-test", lambda config: first)
    with pytest.raises(ValueError, match="provider 'dup-test' is already registered"):
        register("dup-test", lambda config: FakeExecutor())
    assert new("dup-test") is first


def test_register_rejects_replacing_the_default_provider() -> None:
    with pytest.raises(ValueError, match="provider 'default' is already registered"):
        register("default", lambda config: FakeExecutor())


def test_registry_errors_are_workflow_errors_and_value_errors() -> None:
    with pytest.raises(InvalidInputError) as caught:
        new("nope")
    assert isinstance(caught.value, ValueError)


# the built-in "default" provider


async def test_new_default_builds_a_default_executor_from_the_config() -> None:
    store = InMemoryStore()
    hooks = Hooks(on_workflow_start=lambda workflow_id, input: None)
    executor = new("default", Config(store=store, hooks=hooks, extra={"workflows": [greeting]}))
    assert isinstance(executor, DefaultExecutor)
    assert executor.store is store
    assert executor.hooks is hooks
    async with executor:
        handle = await executor.execute(greeting, id="wf-1", input="ada")
        assert await handle.result(timeout=5) == "hello ada"
    state = await store.load("wf-1")
    assert state is not None and state.result == "hello ada"


async def test_new_default_resumes_the_workflows_named_in_extra(tmp_path: Path) -> None:
    path = tmp_path / "wf.db"
    first_store = SQLiteStore(path)
    async with DefaultExecutor(store=first_store, workflows=[wait_for_go]) as first:
        await first.execute(wait_for_go, id="wf-1")
    await first_store.close()

    store = SQLiteStore(path)
    executor = new("default", Config(store=store, extra={"workflows": [wait_for_go]}))
    assert isinstance(executor, DefaultExecutor)
    async with executor:
        await executor.signal("wf-1", Signal(name="go", payload="resumed"))
        handle = await executor.get_handle("wf-1")
        assert await handle.result(timeout=5) == "resumed"
    await store.close()


def test_new_default_without_config_uses_an_in_memory_store() -> None:
    executor = new("default")
    assert isinstance(executor, DefaultExecutor)
    assert isinstance(executor.store, InMemoryStore)
