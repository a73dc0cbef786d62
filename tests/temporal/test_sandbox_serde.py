"""Workflow code's signatures and decoders: cached when run-independent, never keeping a run's module alive."""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal, Optional

import pytest

from beluga_core.engine._serde import _adapter
from beluga_temporal import TemporalExecutor
from beluga_temporal._sandbox_serde import _signatures, run_independent
from tests.conformance import workflows as conformance
from tests.fixtures.temporal import TemporalWorkers


@pytest.mark.parametrize(
    "hint",
    [
        Any,
        None,
        int,
        str,
        bytes,
        list[int],
        dict[str, Any],
        tuple[int, ...],
        int | None,
        Optional[str],
        Literal["a", 1],
        list[dict[str, list[float]]],
    ],
)
def test_annotations_of_builtin_types_are_run_independent(hint: Any) -> None:
    assert run_independent(hint)


@pytest.mark.parametrize(
    "hint",
    [
        conformance.Order,
        list[conformance.Order],
        conformance.Order | None,
        datetime.datetime,
        Annotated[int, "meta"],
        Literal[conformance.Order],
    ],
)
def test_annotations_with_other_classes_are_not(hint: Any) -> None:
    assert not run_independent(hint)


async def test_runs_with_model_annotations_leave_nothing_in_the_caches(
    temporal_workers: TemporalWorkers,
) -> None:
    await temporal_workers.start(workflows=[conformance.checkout], activities=[conformance.price])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    order = conformance.Order(id="o", lines=[conformance.Line(sku="a", qty=1)])
    await (await executor.execute(conformance.checkout, input=order)).result(timeout=30)
    adapters, signatures = _adapter.cache_info().currsize, len(_signatures)

    for _ in range(3):
        await (await executor.execute(conformance.checkout, input=order)).result(timeout=30)

    assert (_adapter.cache_info().currsize, len(_signatures)) == (adapters, signatures)


async def test_runs_with_builtin_annotations_reuse_one_cached_signature(
    temporal_workers: TemporalWorkers,
) -> None:
    await temporal_workers.start(workflows=[conformance.add_two], activities=[conformance.add_one])
    executor = TemporalExecutor(temporal_workers.client, task_queue=temporal_workers.task_queue)
    await (await executor.execute(conformance.add_two, input=1)).result(timeout=30)
    cached = len(_signatures)

    for n in range(3):
        assert await (await executor.execute(conformance.add_two, input=n)).result(timeout=30) == n + 2

    assert len(_signatures) == cached
    assert {"add_two", "add_one"} <= {code.co_name for code, _ in _signatures}
