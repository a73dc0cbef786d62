"""Workflow and activity functions of the executor conformance suite.

They are module-level functions (Temporal's sandbox imports workflows by module and name) and every
executor runs the same ones. Activities record their side effects in module-level state, which the tests
read: workers run in the test process, and activities always run with this module's real globals.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel

from beluga_core.workflow import (
    ActivityError,
    InvalidInputError,
    NonRetryableError,
    RetryPolicy,
    Signal,
    WorkflowContext,
    WorkflowError,
    WorkflowNotRunningError,
    heartbeat,
)

#: Attempts made per key by :func:`fail_until` (keys are unique per test).
ATTEMPTS: Counter[str] = Counter()
#: Keys recorded by :func:`record_cleanup`.
CLEANUPS: list[str] = []

# -- models --------------------------------------------------------------------------------------------


class Line(BaseModel):
    sku: str
    qty: int


class Order(BaseModel):
    id: str
    lines: list[Line]


class Receipt(BaseModel):
    order_id: str
    items: int
    total: float


class Flaky(BaseModel):
    """Input of :func:`fail_until`: fail with ``ValueError`` until attempt ``succeed_on``."""

    key: str
    succeed_on: int


class ActivityCall(BaseModel):
    """Which activity :func:`call_activity` runs, with what input and options (durations in seconds)."""

    activity: str
    input: Any = None
    max_attempts: int = 3
    non_retryable: tuple[str, ...] = ()
    timeout: float | None = None
    total_timeout: float | None = None
    heartbeat_timeout: float | None = None


class ActivityFailure(BaseModel):
    activity_name: str
    attempts: int
    cause_type: str
    cause_message: str


class Outcome(BaseModel):
    """What :func:`call_activity` saw: the activity's result or the :class:`ActivityError` it raised."""

    result: Any = None
    error: ActivityFailure | None = None


class Drawn(BaseModel):
    now: datetime
    random: float
    uuid: uuid.UUID


class DrawnTwice(BaseModel):
    drawn: Drawn
    echoed: Drawn


# -- activities ----------------------------------------------------------------------------------------


async def price(order: Order) -> Receipt:
    items = sum(line.qty for line in order.lines)
    return Receipt(order_id=order.id, items=items, total=items * 2.5)


def add_one(n: int) -> int:
    """A sync activity."""
    return n + 1


async def echo_drawn(drawn: Drawn) -> Drawn:
    return drawn


async def fail_until(flaky: Flaky) -> int:
    ATTEMPTS[flaky.key] += 1
    attempt = ATTEMPTS[flaky.key]
    if attempt < flaky.succeed_on:
        raise ValueError(f"attempt {attempt} failed")
    return attempt


async def refuse(reason: str) -> None:
    raise NonRetryableError(reason)


async def missing_key(key: str) -> None:
    raise KeyError(key)


async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


async def beating(seconds: float) -> str:
    """Runs ``seconds`` while heartbeating every 0.1 s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        heartbeat()
        await asyncio.sleep(0.1)
    return "beat"


async def record_cleanup(key: str) -> str:
    CLEANUPS.append(key)
    return key


ACTIVITIES = [price, add_one, echo_drawn, fail_until, refuse, missing_key, slow, beating, record_cleanup]
_BY_NAME = {fn.__name__: fn for fn in ACTIVITIES}

# -- workflows -----------------------------------------------------------------------------------------


async def checkout(ctx: WorkflowContext, order: Order) -> Receipt:
    """Pydantic models in and out of an activity and the workflow."""
    receipt = await ctx.execute_activity(price, order)
    if not isinstance(receipt, Receipt):
        raise TypeError(f"activity result is {type(receipt).__name__}, not Receipt")
    return receipt


async def constant(ctx: WorkflowContext) -> str:
    """A workflow without input."""
    return "constant"


async def add_two(ctx: WorkflowContext, n: int) -> int:
    """Two calls of a sync activity."""
    once = await ctx.execute_activity(add_one, n)
    return int(await ctx.execute_activity(add_one, once))


async def reject(ctx: WorkflowContext, reason: str) -> str:
    raise ValueError(reason)


async def call_activity(ctx: WorkflowContext, call: ActivityCall) -> Outcome:
    """Runs one activity as ``call`` says; reports its result or its ActivityError."""
    retry = RetryPolicy(
        max_attempts=call.max_attempts,
        initial_interval=timedelta(milliseconds=10),
        non_retryable_errors=call.non_retryable,
    )
    try:
        result = await ctx.execute_activity(
            _BY_NAME[call.activity],
            call.input,
            retry=retry,
            timeout=_duration(call.timeout),
            total_timeout=_duration(call.total_timeout),
            heartbeat_timeout=_duration(call.heartbeat_timeout),
        )
    except ActivityError as exc:
        failure = ActivityFailure(
            activity_name=exc.activity_name,
            attempts=exc.attempts,
            cause_type=exc.cause_type,
            cause_message=exc.cause_message,
        )
        return Outcome(error=failure)
    return Outcome(result=result)


async def fail_on_activity(ctx: WorkflowContext, reason: str) -> None:
    """Lets an ActivityError escape."""
    await ctx.execute_activity(refuse, reason)


async def collect(ctx: WorkflowContext, count: int) -> list[Any]:
    """The first ``count`` payloads of signal ``item``, in order."""
    channel = ctx.receive_signal("item")
    return [await channel.receive() for _ in range(count)]


async def collect_after_go(ctx: WorkflowContext, count: int) -> list[Any]:
    """Waits for ``go`` first, then reads ``count`` ``item`` payloads (sent before ``go``)."""
    await ctx.receive_signal("go").receive()
    return await collect(ctx, count)


async def collect_until_stop(ctx: WorkflowContext) -> list[Any]:
    """``async for`` over signal ``item`` until the payload ``"stop"``."""
    items = []
    async for payload in ctx.receive_signal("item"):
        if payload == "stop":
            break
        items.append(payload)
    return items


async def receive_or_time_out(ctx: WorkflowContext, seconds: float) -> str:
    try:
        payload = await ctx.receive_signal("item").receive(timeout=timedelta(seconds=seconds))
    except TimeoutError:
        return "timed out"
    return f"got {payload}"


async def typed_orders(ctx: WorkflowContext, count: int) -> list[str]:
    """The first ``count`` payloads of signal ``order``, received as :class:`Order` (their types and ids)."""
    channel = ctx.receive_signal("order", Order)
    got = []
    for _ in range(count):
        order = await channel.receive()
        got.append(f"{type(order).__name__} {order.id} {order.lines[0].qty}")
    return got


async def typed_ints(ctx: WorkflowContext, count: int) -> list[Any]:
    """``count`` ``item`` payloads as ``int``: each the value, or the :class:`InvalidInputError` message."""
    channel = ctx.receive_signal("item", int)
    got: list[Any] = []
    for _ in range(count):
        try:
            got.append(await channel.receive())
        except InvalidInputError as exc:
            got.append(str(exc))
    return got


async def typed_until_stop(ctx: WorkflowContext) -> list[str]:
    """``async for`` over signal ``order`` typed :class:`Order` until an order with id ``"stop"``."""
    seen = []
    async for order in ctx.receive_signal("order", Order):
        if order.id == "stop":
            break
        seen.append(f"{type(order).__name__} {order.id}")
    return seen


async def with_progress(ctx: WorkflowContext, label: str) -> str:
    """Answers query ``progress`` and finishes on signal ``finish``."""
    progress = {"label": label, "step": 1}
    ctx.set_query_handler("progress", lambda: dict(progress))
    await ctx.receive_signal("finish").receive()
    progress["step"] = 2
    return label


async def tally(ctx: WorkflowContext, count: int) -> int:
    """Answers query ``progress`` with the ``item`` payloads received so far; finishes after ``count``."""
    received: list[Any] = []
    ctx.set_query_handler("progress", lambda: {"received": list(received), "done": len(received) == count})
    channel = ctx.receive_signal("item")
    while len(received) < count:
        received.append(await channel.receive())
    return len(received)


def _missing_key() -> int:
    raise KeyError("steps")


async def with_broken_query(ctx: WorkflowContext) -> str:
    """Answers query ``ready``; its query ``broken`` raises ``KeyError``. Finishes on signal ``finish``."""
    ctx.set_query_handler("ready", lambda: True)
    ctx.set_query_handler("broken", _missing_key)
    await ctx.receive_signal("finish").receive()
    return "done"


async def receipt_on_go(ctx: WorkflowContext, order_id: str) -> Receipt:
    """Returns a model once signal ``go`` brings the number of items."""
    items = await ctx.receive_signal("go").receive()
    return Receipt(order_id=order_id, items=items, total=2.5 * items)


async def _async_progress() -> int:
    return 1


class _AsyncProgress:
    """A callable object whose ``__call__`` is async."""

    async def __call__(self) -> int:
        return 1


async def with_async_query(ctx: WorkflowContext, kind: str) -> str:
    """Registers an async query handler (``kind``: "function" or "callable object"), then returns."""
    handler = _async_progress if kind == "function" else _AsyncProgress()
    ctx.set_query_handler("progress", handler)
    return "registered"


async def with_coroutine_query(ctx: WorkflowContext) -> str:
    """Answers query ``ready``; its sync handler ``progress`` returns a coroutine. Finishes on ``finish``."""
    ctx.set_query_handler("ready", lambda: True)
    ctx.set_query_handler("progress", lambda: _async_progress())
    await ctx.receive_signal("finish").receive()
    return "done"


async def text_as_int(ctx: WorkflowContext) -> int:
    """Returns a string although it is annotated ``-> int``."""
    return cast(int, "abc")


async def incomplete_receipt(ctx: WorkflowContext) -> Receipt:
    """Returns a dict missing fields of its ``-> Receipt`` annotation."""
    return cast(Receipt, {"order_id": "ord-1"})


async def wait_forever(ctx: WorkflowContext) -> str:
    await ctx.receive_signal("never").receive()
    return "unreachable"


async def clean_up_on_cancel(ctx: WorkflowContext, key: str) -> str:
    """Catches the cancellation, runs a cleanup activity, and ends canceled."""
    try:
        await ctx.receive_signal("never").receive()
    except asyncio.CancelledError:
        await ctx.execute_activity(record_cleanup, key)
        raise
    return "unreachable"


async def nap(ctx: WorkflowContext, seconds: float) -> str:
    await ctx.sleep(timedelta(seconds=seconds))
    return "rested"


async def tell_time(ctx: WorkflowContext, seconds: float) -> list[datetime]:
    """``ctx.now()`` before and after sleeping ``seconds``."""
    before = ctx.now()
    await ctx.sleep(timedelta(seconds=seconds))
    return [before, ctx.now()]


async def draw(ctx: WorkflowContext) -> DrawnTwice:
    """Draws now/random/uuid4 and passes them through an activity; returns both (equal when deterministic)."""
    drawn = Drawn(now=ctx.now(), random=ctx.random(), uuid=ctx.uuid4())
    echoed = await ctx.execute_activity(echo_drawn, drawn)
    return DrawnTwice(drawn=drawn, echoed=echoed)


async def draw_twice(ctx: WorkflowContext) -> list[float]:
    """Two random draws in one run."""
    return [ctx.random(), ctx.random()]


async def add_patched(ctx: WorkflowContext, n: int) -> list[Any]:
    """Patch ``add-twice`` adds a second add_one: [patched before the step, patched after it, the sum]."""
    first = ctx.patched("add-twice")
    n = await ctx.execute_activity(add_one, n)
    if first:
        n = await ctx.execute_activity(add_one, n)
    return [first, ctx.patched("add-twice"), n]


async def add_deprecated(ctx: WorkflowContext, n: int) -> int:
    """Patch ``add-twice`` deprecated: only the patched code is left."""
    ctx.deprecate_patch("add-twice")
    once = await ctx.execute_activity(add_one, n)
    return int(await ctx.execute_activity(add_one, once))


async def patch_by_id(ctx: WorkflowContext, call: dict[str, Any]) -> Any:
    """``ctx.patched`` (or ``ctx.deprecate_patch`` when ``call["deprecate"]``) of ``call["id"]``."""
    if call.get("deprecate"):
        ctx.deprecate_patch(call["id"])
        return None
    return ctx.patched(call["id"])


async def with_updates(ctx: WorkflowContext, start: int) -> int:
    """A counter. Update ``add`` (its validator refuses amounts below 1) adds to it and returns the new total;
    ``add_via_activity`` adds ``add_one(n)`` (an activity); ``boom`` raises. Query ``total``; ends on ``finish``.
    """
    total = start

    def add(n: int) -> int:
        nonlocal total
        total += n
        return total

    def positive(n: int) -> None:
        if n < 1:
            raise ValueError(f"amount must be at least 1, got {n}")

    async def add_via_activity(n: int) -> int:
        nonlocal total
        total += await ctx.execute_activity(add_one, n)
        return total

    def boom(message: str) -> None:
        raise RuntimeError(message)

    ctx.set_update_handler("add", add, validator=positive)
    ctx.set_update_handler("add_via_activity", add_via_activity)
    ctx.set_update_handler("boom", boom)
    ctx.set_query_handler("total", lambda: total)
    await ctx.receive_signal("finish").receive()
    return total


WORKFLOWS = [
    checkout,
    constant,
    add_two,
    reject,
    call_activity,
    fail_on_activity,
    collect,
    collect_after_go,
    collect_until_stop,
    receive_or_time_out,
    typed_orders,
    typed_ints,
    typed_until_stop,
    with_progress,
    tally,
    with_broken_query,
    receipt_on_go,
    with_async_query,
    with_coroutine_query,
    text_as_int,
    incomplete_receipt,
    wait_forever,
    clean_up_on_cancel,
    nap,
    tell_time,
    draw,
    draw_twice,
    add_patched,
    add_deprecated,
    patch_by_id,
    with_updates,
]


def _duration(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


# -- continue-as-new -----------------------------------------------------------------------------------


class Turns(BaseModel):
    """Input of :func:`count_in_runs`: the count so far, and what each earlier run saw."""

    value: int = 0
    continues: int = 3
    run_ids: list[str] = []
    start_lengths: list[int] = []
    later_lengths: list[int] = []


async def count_in_runs(ctx: WorkflowContext, turns: Turns) -> Turns:
    """A counter loop that continues as new until ``continues`` runs are left behind."""
    start = ctx.history_length
    value = await ctx.execute_activity(add_one, turns.value)
    seen = Turns(
        value=value,
        continues=turns.continues,
        run_ids=[*turns.run_ids, ctx.run_id],
        start_lengths=[*turns.start_lengths, start],
        later_lengths=[*turns.later_lengths, ctx.history_length],
    )
    if turns.continues == 0:
        return seen
    try:
        ctx.continue_as_new(seen.model_copy(update={"continues": turns.continues - 1}))
    except Exception:  # continue_as_new raises no Exception: this never catches it
        return seen.model_copy(update={"value": -1})


async def relay_signals(ctx: WorkflowContext, turn: int) -> list[Any]:
    """Run 0 waits for ``go`` and continues as new; run 1 receives three ``item`` and one ``other``."""
    if turn == 0:
        await ctx.receive_signal("go").receive()
        ctx.continue_as_new(1)
    items = ctx.receive_signal("item")
    got = [await items.receive() for _ in range(3)]
    got.append(await ctx.receive_signal("other").receive())
    return got


async def continue_with_bad_input(ctx: WorkflowContext, n: int) -> list[str]:
    """Calls ``continue_as_new`` with inputs that cannot become the next run's: each is refused at the call."""
    refused = []
    for bad in (object(), "not a number"):
        try:
            ctx.continue_as_new(bad)
        except InvalidInputError:
            refused.append(type(bad).__name__)
    return refused


WORKFLOWS += [count_in_runs, relay_signals, continue_with_bad_input]


# -- child workflows -----------------------------------------------------------------------------------


class ChildSpec(BaseModel):
    """Which child :func:`parent_of` starts (by function name) and how; durations in seconds."""

    child: str
    input: Any = None
    id: str | None = None
    timeout: float | None = None
    parent_close: str = "cancel"
    #: Signal the child this payload (signal ``go``) before awaiting it.
    signal: Any = None
    #: Return right after the start, without awaiting the child.
    detach: bool = False


class ChildOutcome(BaseModel):
    """What a parent saw of its child: its id, and its result or the error awaiting it raised."""

    child_id: str = ""
    result: Any = None
    result_type: str = ""
    error: str | None = None
    cause_type: str | None = None


async def receipt_child(ctx: WorkflowContext, order: Order) -> Receipt:
    """A child that prices an order with an activity."""
    return await ctx.execute_activity(price, order)


async def failing_child(ctx: WorkflowContext, message: str) -> int:
    raise ValueError(message)


async def child_waiting_for_go(ctx: WorkflowContext) -> Any:
    """A child that returns the payload of signal ``go``."""
    return await ctx.receive_signal("go").receive()


async def not_registered_child(ctx: WorkflowContext) -> str:
    """A workflow no executor of the suite registers."""
    return "unreachable"


_CHILDREN = {fn.__name__: fn for fn in (receipt_child, failing_child, child_waiting_for_go, nap)}
_CHILDREN["not_registered_child"] = not_registered_child


async def parent_of(ctx: WorkflowContext, spec: ChildSpec) -> ChildOutcome:
    """Starts the child ``spec`` names; returns its id and what awaiting it gave (or the start's error)."""
    timeout = _duration(spec.timeout)
    try:
        handle = await ctx.start_child(
            _CHILDREN[spec.child],
            spec.input,
            id=spec.id,
            timeout=timeout,
            parent_close=cast(Any, spec.parent_close),
        )
    except Exception as exc:
        return ChildOutcome(error=type(exc).__name__, cause_type=str(exc))
    if spec.detach:
        return ChildOutcome(child_id=handle.id)
    seen = ChildOutcome(child_id=handle.id)
    try:
        if spec.signal is not None:
            await handle.signal(Signal(name="go", payload=spec.signal))
        result = await handle.result()
    except WorkflowError as exc:
        seen.error = type(exc).__name__
        seen.cause_type = getattr(exc, "cause_type", None)
        return seen
    seen.result = result.model_dump() if isinstance(result, BaseModel) else result
    seen.result_type = type(result).__name__
    return seen


async def children_in_turn(ctx: WorkflowContext, count: int) -> list[str]:
    """Runs ``count`` receipt children one after the other without ids; returns their ids."""
    ids = []
    for n in range(count):
        handle = await ctx.start_child(receipt_child, Order(id=f"o{n}", lines=[Line(sku="a", qty=n + 1)]))
        await handle.result()
        ids.append(handle.id)
    return ids


async def child_of_its_own_id(ctx: WorkflowContext) -> str:
    """Starts a child with the parent's own id: refused at the call."""
    try:
        await ctx.start_child(child_waiting_for_go, id=ctx.workflow_id)
    except InvalidInputError as exc:
        return str(exc)
    return "started"


async def signal_finished_child(ctx: WorkflowContext) -> str:
    """Signals a child after it completed: refused as not running."""
    handle = await ctx.start_child(receipt_child, Order(id="o", lines=[]))
    await handle.result()
    try:
        await handle.signal(Signal(name="go", payload=1))
    except WorkflowNotRunningError:
        return "refused"
    return "delivered"


async def parent_waiting_on_child(ctx: WorkflowContext, spec: ChildSpec) -> str:
    """Starts a waiting child with ``spec.id`` and policy, answers query ``child`` with its id, awaits it."""
    handle = await ctx.start_child(
        child_waiting_for_go, id=spec.id, parent_close=cast(Any, spec.parent_close)
    )
    ctx.set_query_handler("child", lambda: handle.id)
    return str(await handle.result())


WORKFLOWS += [
    receipt_child,
    failing_child,
    child_waiting_for_go,
    parent_of,
    children_in_turn,
    child_of_its_own_id,
    signal_finished_child,
    parent_waiting_on_child,
]


async def parent_continuing_past_child(ctx: WorkflowContext, spec: ChildSpec) -> str:
    """Run 1 starts a waiting child (``spec.id``, policy) and continues as new; run 2 returns at once."""
    if spec.detach:
        return "second run"
    await ctx.start_child(child_waiting_for_go, id=spec.id, parent_close=cast(Any, spec.parent_close))
    ctx.continue_as_new(spec.model_copy(update={"detach": True}))


WORKFLOWS += [parent_continuing_past_child]


async def nap_in_a_child(ctx: WorkflowContext, seconds: float) -> str:
    """Waits for a child workflow that sleeps ``seconds``."""
    return f"child {await ctx.execute_child(nap, seconds)}"


WORKFLOWS += [nap_in_a_child]
