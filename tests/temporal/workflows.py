"""Workflow functions for the Temporal adapter's own tests (module-level: the sandbox imports them by name)."""

from __future__ import annotations

import datetime
from pathlib import Path

from beluga_core.workflow import WorkflowContext, named

#: Bumped by :func:`count_module_runs` each time it runs; the sandbox gives each run its own copy.
RUNS = 0


async def reads_the_clock(ctx: WorkflowContext) -> str:
    """Breaks determinism: the wall clock in workflow code."""
    return datetime.datetime.now().isoformat()


async def opens_a_file(ctx: WorkflowContext, path: str) -> str:
    """Breaks determinism: file I/O in workflow code."""
    return Path(path).read_text()


async def count_module_runs(ctx: WorkflowContext) -> int:
    """Returns how often this module's copy has run this function (always 1 under the sandbox)."""
    global RUNS
    RUNS += 1
    return RUNS


async def shout(text: str) -> str:
    return text.upper()


def shout_sync(text: str) -> str:
    return text.upper() + "!"


@named("shout")
async def shout_again(text: str) -> str:
    """An activity that takes the name of :func:`shout`."""
    return text.upper()


@named("ShoutTwice")
async def shout_twice(ctx: WorkflowContext, text: str) -> str:
    """A workflow with an explicit name: its Temporal workflow type is ``ShoutTwice``."""
    once = await ctx.execute_activity(shout, text)
    return str(await ctx.execute_activity(shout_sync, once))


@named("versioned")
async def versioned_v1(ctx: WorkflowContext, text: str) -> str:
    """Version 1 of workflow ``versioned``: shout, then shout_sync."""
    once = await ctx.execute_activity(shout, text)
    return str(await ctx.execute_activity(shout_sync, once))


@named("versioned")
async def versioned_v2(ctx: WorkflowContext, text: str) -> str:
    """Version 2 of ``versioned``, changed incompatibly: the activities run in the other order."""
    once = await ctx.execute_activity(shout_sync, text)
    return str(await ctx.execute_activity(shout, once))


@named("versioned")
async def versioned_patched(ctx: WorkflowContext, text: str) -> str:
    """Version 2 of ``versioned`` behind patch ``sync-first``: new runs run the activities in the other order."""
    if ctx.patched("sync-first"):
        once = await ctx.execute_activity(shout_sync, text)
        return f"patched {await ctx.execute_activity(shout, once)}"
    once = await ctx.execute_activity(shout, text)
    return f"unpatched {await ctx.execute_activity(shout_sync, once)}"


@named("versioned")
async def versioned_deprecated(ctx: WorkflowContext, text: str) -> str:
    """Version 3 of ``versioned``: patch ``sync-first`` deprecated, only the patched order left."""
    ctx.deprecate_patch("sync-first")
    once = await ctx.execute_activity(shout_sync, text)
    return f"patched {await ctx.execute_activity(shout, once)}"


def not_async(ctx: WorkflowContext) -> str:
    return "sync"


def make_closure() -> object:
    async def nested(ctx: WorkflowContext) -> str:
        return "nested"

    return nested


async def story(ctx: WorkflowContext, prefix: str) -> str:
    """One of each step: waits for signal ``go``, sleeps 0.1 s, then shouts the payload."""
    payload = await ctx.receive_signal("go").receive()
    await ctx.sleep(0.1)
    return str(await ctx.execute_activity(shout, f"{prefix}-{payload}"))


async def three_shouts(ctx: WorkflowContext, text: str) -> list[str]:
    """Three activities and a signal: enough steps for a replay to pass through each kind of hook."""
    ctx.set_query_handler("text", lambda: text)
    first = await ctx.execute_activity(shout, text)
    second = await ctx.execute_activity(shout_sync, first)
    suffix = await ctx.receive_signal("suffix").receive()
    third = await ctx.execute_activity(shout, f"{second}{suffix}")
    return [first, second, third]


@named("diverging")
async def diverging_v1(ctx: WorkflowContext, text: str) -> str:
    """Version 1 of workflow ``diverging``: shouts, then waits for signal ``go``."""
    once = await ctx.execute_activity(shout, text)
    return f"{once} {await ctx.receive_signal('go').receive()}"


@named("diverging")
async def diverging_v2(ctx: WorkflowContext, text: str) -> str:
    """Version 2 of ``diverging``, changed incompatibly: another activity first."""
    once = await ctx.execute_activity(shout_sync, text)
    return f"{once} {await ctx.receive_signal('go').receive()}"


@named("diverging")
async def diverging_patched(ctx: WorkflowContext, text: str) -> str:
    """Version 2 of ``diverging`` behind patch ``sync-first``: runs started on version 1 keep its activity."""
    patched = ctx.patched("sync-first")
    once = await ctx.execute_activity(shout_sync if patched else shout, text)
    return f"{patched} {once} {await ctx.receive_signal('go').receive()}"
