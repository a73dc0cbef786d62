"""The pytest plugin, run as a user runs it: a ``conftest.py`` opting in, then ``pytest`` (with pytest-asyncio's
defaults, in a session of its own)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

WORKFLOWS = """
from datetime import timedelta

from beluga_core.workflow import WorkflowContext

async def nap(ctx: WorkflowContext, days: float) -> str:
    await ctx.sleep(timedelta(days=days))
    return "rested"
"""

TESTS = """
from naps import nap

BELUGA_WORKFLOWS = [nap]

async def test_nap(workflow_env, beluga_executor):
    handle = await workflow_env.executor.execute(nap, input=30)
    assert await handle.result(timeout=10) == "rested"
    print(f"ran on {beluga_executor}: {type(workflow_env).__name__}")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project that opts into the plugin from its conftest.py."""
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest('pytest_plugins = ["beluga_core.testing.pytest_plugin"]\n')
    pytester.makepyfile(naps=WORKFLOWS)  # the workflows, as a project keeps them: in a module of their own
    pytester.syspathinsert()
    return pytester


def test_a_test_taking_workflow_env_runs_on_the_default_executor_unless_told_otherwise(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_naps=TESTS)

    result = project.runpytest("-s")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*ran on default: DefaultTestEnv*"])


def test_beluga_executors_runs_each_test_once_per_executor(project: pytest.Pytester) -> None:
    project.makepyfile(test_naps=TESTS)

    result = project.runpytest("-s", "-v", "--beluga-executors=default,temporal")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "test_naps.py::test_nap[[]default[]] ran on default: DefaultTestEnv",
            "test_naps.py::test_nap[[]temporal[]] ran on temporal: TemporalTestEnv",
        ]
    )


def test_a_marker_chooses_the_executors_of_its_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_naps=TESTS + '\nimport pytest\ntest_nap = pytest.mark.beluga(executors=["temporal"])(test_nap)\n'
    )

    result = project.runpytest("--collect-only", "-q")

    result.stdout.fnmatch_lines(["test_naps.py::test_nap[[]temporal[]]"])
    result.stdout.no_fnmatch_line("*default*")


def test_an_unknown_executor_is_a_usage_error_naming_it(project: pytest.Pytester) -> None:
    project.makepyfile(test_naps=TESTS)

    result = project.runpytest("--beluga-executors=default,dbos")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--beluga-executors: unknown executor 'dbos'; choose from default, temporal*"]
    )


def test_a_module_naming_no_workflows_fails_its_tests_saying_what_to_set(project: pytest.Pytester) -> None:
    project.makepyfile(test_empty="async def test_it(workflow_env):\n    pass\n")

    result = project.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*names no workflows: set BELUGA_WORKFLOWS = [[]...[]] in its module*"])
