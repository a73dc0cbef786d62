"""Quickstart: a workflow with two activities, run on Temporal (or on the embedded executor).

    python -m samples.quickstart                     # starts the bundled Temporal dev server
    TEMPORAL_ADDRESS=localhost:7233 python -m samples.quickstart
    python -m samples.quickstart --executor default  # embedded, durable on SQLite

The workflow code is the same on both executors.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from beluga_core.workflow import RetryPolicy, WorkflowContext
from samples._executors import open_executor, parse_args, run_sample


class Greeting(BaseModel):
    name: str
    language: str = "en"


async def compose(greeting: Greeting) -> str:
    """An activity: anything with side effects (I/O, LLM calls, clocks) belongs in one."""
    words = {"en": "Hello", "fr": "Bonjour", "es": "Hola"}
    return f"{words.get(greeting.language, 'Hello')}, {greeting.name}!"


def shout(text: str) -> str:
    """A sync activity: it runs in a worker thread, off the event loop."""
    return text.upper()


async def greet(ctx: WorkflowContext, greeting: Greeting) -> str:
    """A workflow: deterministic code that calls activities; each result is recorded durably."""
    text = await ctx.execute_activity(compose, greeting, retry=RetryPolicy(max_attempts=3))
    loud: str = await ctx.execute_activity(shout, text, timeout=timedelta(seconds=10))
    return loud


async def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    async with open_executor(
        args, task_queue="quickstart", workflows=[greet], activities=[compose, shout]
    ) as opened:
        print(f"executor: {args.executor} ({opened.where})")
        handle = await opened.executor.execute(
            greet, id="quickstart-1", input=Greeting(name="Beluga", language="fr")
        )
        print(f"workflow {handle.id} (run {handle.run_id}) result: {await handle.result(timeout=60)}")
        print(f"status: {await handle.status()}")


if __name__ == "__main__":
    run_sample(main)
