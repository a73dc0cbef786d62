"""Hooks: fire_hook calls one hook safely; compose_hooks chains hook sets in order."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from beluga_core.engine import HOOK_NAMES, fire_hook
from beluga_core.workflow import Hooks, compose_hooks


async def test_fire_hook_calls_a_sync_hook_with_the_arguments() -> None:
    seen: list[tuple[Any, ...]] = []
    await fire_hook(Hooks(on_workflow_start=lambda *args: seen.append(args)), "on_workflow_start", "wf-1", 42)
    assert seen == [("wf-1", 42)]


async def test_fire_hook_awaits_an_async_hook() -> None:
    seen: list[str] = []

    async def on_cancel(workflow_id: str) -> None:
        seen.append(workflow_id)

    await fire_hook(Hooks(on_workflow_cancel=on_cancel), "on_workflow_cancel", "wf-1")
    assert seen == ["wf-1"]


async def test_fire_hook_does_nothing_for_unset_hooks_or_no_hooks() -> None:
    await fire_hook(None, "on_workflow_start", "wf-1", None)
    await fire_hook(Hooks(), "on_workflow_start", "wf-1", None)


async def test_fire_hook_logs_and_swallows_a_failing_hook(caplog: pytest.LogCaptureFixture) -> None:
    def broken(workflow_id: str, error: Exception) -> None:
        raise RuntimeError("hook bug")

    with caplog.at_level(logging.ERROR, logger="beluga_core.hooks"):
        await fire_hook(Hooks(on_workflow_fail=broken), "on_workflow_fail", "wf-1", ValueError("x"))
    assert "on_workflow_fail" in caplog.text
    assert "hook bug" in caplog.text


async def test_compose_hooks_calls_each_set_in_order() -> None:
    order: list[str] = []
    first = Hooks(on_signal=lambda wf, sig: order.append(f"first:{wf}:{sig}"))
    second = Hooks(on_signal=lambda wf, sig: order.append(f"second:{wf}:{sig}"))

    await fire_hook(compose_hooks(first, second), "on_signal", "wf-1", "go")
    assert order == ["first:wf-1:go", "second:wf-1:go"]


async def test_compose_hooks_mixes_sync_and_async_hooks_in_order() -> None:
    order: list[str] = []

    async def async_hook(workflow_id: str, result: Any) -> None:
        order.append("async")

    composed = compose_hooks(
        Hooks(on_workflow_complete=lambda wf, r: order.append("sync-1")),
        Hooks(on_workflow_complete=async_hook),
        Hooks(on_workflow_complete=lambda wf, r: order.append("sync-2")),
    )
    await fire_hook(composed, "on_workflow_complete", "wf-1", "done")
    assert order == ["sync-1", "async", "sync-2"]


async def test_compose_hooks_keeps_going_after_a_failing_hook_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def broken(workflow_id: str) -> None:
        raise RuntimeError("metrics down")

    composed = compose_hooks(Hooks(on_workflow_cancel=broken), Hooks(on_workflow_cancel=seen.append))
    with caplog.at_level(logging.ERROR, logger="beluga_core.hooks"):
        await fire_hook(composed, "on_workflow_cancel", "wf-1")
    assert seen == ["wf-1"]
    assert "metrics down" in caplog.text


async def test_compose_hooks_skips_none_and_unset_hooks() -> None:
    seen: list[str] = []
    composed = compose_hooks(None, Hooks(), Hooks(on_workflow_cancel=seen.append), None)
    await fire_hook(composed, "on_workflow_cancel", "wf-1")
    assert seen == ["wf-1"]


def test_compose_hooks_leaves_a_hook_unset_when_no_set_defines_it() -> None:
    composed = compose_hooks(Hooks(on_signal=print), None)
    assert composed.on_signal is not None
    assert all(getattr(composed, name) is None for name in HOOK_NAMES if name != "on_signal")


def test_compose_hooks_of_nothing_sets_no_hook() -> None:
    composed = compose_hooks()
    assert all(getattr(composed, name) is None for name in HOOK_NAMES)
