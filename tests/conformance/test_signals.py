"""Signals: FIFO per name, buffered from the start, receive timeouts, ``async for``.

A receive timeout running out is in ``test_time_skipping`` (days of it, on the testing kit's environments).
"""

from __future__ import annotations

from beluga_core.workflow import DurableExecutor, Signal, WorkflowStatus

from . import workflows as wf
from ._helpers import RESULT_WAIT, failure_of

MANY = 300


async def test_hundreds_of_signals_arrive_in_the_order_sent(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.collect, input=MANY)

    for i in range(MANY):
        await executor.signal(handle.id, Signal(name="item", payload=i))

    assert await handle.result(timeout=RESULT_WAIT) == list(range(MANY))


async def test_signals_sent_before_the_workflow_receives_them_are_buffered(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.collect_after_go, input=3)
    for payload in ("a", {"b": 2}, [3]):
        await executor.signal(handle.id, Signal(name="item", payload=payload))

    await executor.signal(handle.id, Signal(name="go"))

    assert await handle.result(timeout=RESULT_WAIT) == ["a", {"b": 2}, [3]]


async def test_signals_of_other_names_do_not_satisfy_a_receive(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.collect, input=1)
    await executor.signal(handle.id, Signal(name="other", payload="ignored"))

    await executor.signal(handle.id, Signal(name="item", payload="taken"))

    assert await handle.result(timeout=RESULT_WAIT) == ["taken"]


async def test_receive_with_timeout_returns_a_signal_that_comes_in_time(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.receive_or_time_out, input=30.0)

    await executor.signal(handle.id, Signal(name="item", payload="on time"))

    assert await handle.result(timeout=RESULT_WAIT) == "got on time"


async def test_async_for_reads_a_channel_until_the_workflow_breaks_out(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.collect_until_stop)

    for payload in ("x", "y", "stop", "after"):
        await executor.signal(handle.id, Signal(name="item", payload=payload))

    assert await handle.result(timeout=RESULT_WAIT) == ["x", "y"]


async def test_negative_receive_timeout_fails_the_workflow_naming_the_signal_and_the_seconds(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.receive_or_time_out, input=-1.5)

    failure = await failure_of(handle)

    assert (failure.cause_type, failure.cause_message) == (
        "InvalidInputError",
        "workflow 'receive_or_time_out': receive timeout of signal 'item' must not be negative, got -1.5s",
    )
    assert await handle.status() == WorkflowStatus.FAILED


# -- typed signals: ctx.receive_signal(name, payload_type) --------------------------------------------------


async def test_a_typed_channel_decodes_a_model_sent_as_the_model_or_as_its_json(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.typed_orders, input=2)
    as_model = wf.Order(id="o-1", lines=[wf.Line(sku="a", qty=2)])

    await executor.signal(handle.id, Signal(name="order", payload=as_model))
    await executor.signal(
        handle.id, Signal(name="order", payload={"id": "o-2", "lines": [{"sku": "b", "qty": 5}]})
    )

    assert await handle.result(timeout=RESULT_WAIT) == ["Order o-1 2", "Order o-2 5"]


async def test_a_builtin_typed_channel_decodes_in_pydantics_lax_mode(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.typed_ints, input=3)

    for payload in ("3", 4, 5.0):
        await executor.signal(handle.id, Signal(name="item", payload=payload))

    assert await handle.result(timeout=RESULT_WAIT) == [3, 4, 5]


async def test_a_payload_that_does_not_decode_raises_invalid_input_naming_the_signal_and_the_type_and_is_consumed(
    executor: DurableExecutor,
) -> None:
    handle = await executor.execute(wf.typed_ints, input=2)

    await executor.signal(handle.id, Signal(name="item", payload="three"))
    await executor.signal(handle.id, Signal(name="item", payload=7))

    error, after = await handle.result(timeout=RESULT_WAIT)
    assert error.startswith("workflow 'typed_ints': payload of signal 'item': expected int: ")
    assert "three" in error
    assert after == 7


async def test_a_model_payload_that_does_not_decode_names_the_model(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.typed_orders, input=1)

    await executor.signal(handle.id, Signal(name="order", payload={"id": "o-1"}))

    failure = await failure_of(handle)
    assert failure.cause_type == "InvalidInputError"
    assert failure.cause_message.startswith(
        "workflow 'typed_orders': payload of signal 'order': expected Order: "
    )


async def test_async_for_over_a_typed_channel_yields_typed_payloads(executor: DurableExecutor) -> None:
    handle = await executor.execute(wf.typed_until_stop)

    for order_id in ("x", "y", "stop"):
        await executor.signal(handle.id, Signal(name="order", payload={"id": order_id, "lines": []}))

    assert await handle.result(timeout=RESULT_WAIT) == ["Order x", "Order y"]
