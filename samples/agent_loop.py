"""An LLM agent loop: the model decides which tool to call until it can answer. Every call is an activity.

    python -m samples.agent_loop [--executor default]

The model is a deterministic fake (no network, no keys) standing in for a real LLM client: it reads the
transcript and either asks for a tool (``CALL <tool> <json args>``) or answers (``ANSWER <text>``). A crash
mid-loop resumes without paying for the LLM calls and tool runs already recorded.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from beluga_core.workflow import RetryPolicy, WorkflowContext, llm_activity, tool_activity
from samples._executors import open_executor, parse_args, run_sample

WEATHER = {"paris": 18, "oslo": 4, "lima": 22}


def fake_model(prompt: str) -> str:
    """A scripted 'LLM': weather first, then arithmetic on the result, then the answer."""
    question, _, transcript = prompt.partition("\n")
    if "weather" not in transcript:
        city = question.rsplit(" ", 1)[-1].strip("?").lower()
        return "CALL weather " + json.dumps({"city": city})
    if "calculator" not in transcript:
        celsius = json.loads(transcript.splitlines()[-1].split(" -> ", 1)[1])
        return "CALL calculator " + json.dumps({"expression": f"{celsius} * 9 / 5 + 32"})
    fahrenheit = transcript.splitlines()[-1].split(" -> ", 1)[1]
    return f"ANSWER It is {fahrenheit} degrees Fahrenheit there."


def execute_tool(name: str, args: dict[str, Any]) -> Any:
    if name == "weather":
        return WEATHER[args["city"]]
    if name == "calculator":
        # The fake model only writes "<c> * 9 / 5 + 32"; a real agent would use a proper expression parser.
        left, _, coeff, _, div, _, add = args["expression"].split()
        return float(left) * float(coeff) / float(div) + float(add)
    raise ValueError(f"unknown tool {name!r}")


ask_llm = llm_activity(fake_model, name="ask_llm")
run_tool = tool_activity(execute_tool, name="run_tool")


class AgentResult(BaseModel):
    answer: str
    turns: int
    transcript: list[str]


async def agent(ctx: WorkflowContext, question: str) -> AgentResult:
    transcript: list[str] = []
    ctx.set_query_handler("transcript", lambda: transcript)
    for turn in range(1, 9):
        reply = await ctx.execute_activity(
            ask_llm, question + "\n" + "\n".join(transcript), retry=RetryPolicy(max_attempts=3)
        )
        if reply.startswith("ANSWER "):
            return AgentResult(answer=reply.removeprefix("ANSWER "), turns=turn, transcript=transcript)
        _, tool, raw_args = reply.split(" ", 2)
        result = await ctx.execute_activity(run_tool, {"name": tool, "args": json.loads(raw_args)})
        transcript.append(f"{tool} {raw_args} -> {json.dumps(result)}")
    raise RuntimeError("the agent did not answer within 8 turns")


async def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    async with open_executor(
        args, task_queue="agents", workflows=[agent], activities=[ask_llm, run_tool]
    ) as opened:
        print(f"executor: {args.executor} ({opened.where})")
        handle = await opened.executor.execute(agent, id="agent-1", input="What is the weather in Paris?")
        result = await handle.result(timeout=60)
        for line in result.transcript:
            print(f"  tool: {line}")
        print(f"answer after {result.turns} turns: {result.answer}")


if __name__ == "__main__":
    run_sample(main)
