"""The examples in docs/testing.md run as written: each script in its own interpreter, and the pytest
project (the blocks that start with a file name) with pytest, on both executors."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.examples import assert_printed_in_order, each_example, run_in, run_python

TESTING_DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
BLOCKS = re.findall(r"```(python|ini)\n(.*?)```", TESTING_DOC.read_text(), re.S)
#: Blocks that open with ``# <file name>``: the files of the pytest example project.
FILES = {
    match.group(1): source
    for _, source in BLOCKS
    if (match := re.match(r"# ([\w.]+\.(?:py|ini))\n", source)) is not None
}
SCRIPTS = [source for kind, source in BLOCKS if kind == "python" and not re.match(r"# [\w.]+\.py\n", source)]

# Lines each script prints, in order (other lines may come between them).
EXPECTED_OUTPUT = [
    ["offer of 9.5 expired", "32 days in ", "offer of 9.5 accepted"],  # time skipping
    ["offer of 9.5 made", "30 days later: True"],  # on Temporal
    ["DefaultTestEnv: no registered workflow calls an activity named 'send_invoce'"],  # overrides
    [  # replay before deploy
        "True",
        "False",
        "workflow 'A-1' step 1: history has activity 'reserve' at this step, but the workflow now does",
        "workflow 'A-2' step 1: history has activity 'reserve' at this step",
    ],
]


@each_example(SCRIPTS, EXPECTED_OUTPUT, "script")
def test_testing_doc_script_prints_what_it_says(source: str, expected: list[str], tmp_path: Path) -> None:
    assert_printed_in_order(run_python(source, tmp_path, timeout=120), expected)


def test_the_pytest_example_passes_on_both_executors(tmp_path: Path) -> None:
    assert sorted(FILES) == ["approvals.py", "conftest.py", "pytest.ini", "test_approvals.py"]
    for name, source in FILES.items():
        (tmp_path / name).write_text(source)

    done = run_in(
        tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--beluga-executors=default,temporal"
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
