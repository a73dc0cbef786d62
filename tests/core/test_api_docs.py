"""The examples in docs/api.md run as written (each in its own interpreter, as a reader would run it)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.examples import assert_printed_in_order, each_example, run_python

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", API_DOC.read_text(), re.S)

# Lines each example prints, in order (other lines may come between them).
EXPECTED_OUTPUT = [
    ["['default']", "hello ada"],  # registry
    [],  # a provider of your own
    ["True False True", "['tea', 'milk']"],  # signal-with-start
    ["start order-1 ORD-1", "metric fetch", "done order-1 42"],  # hooks
    ["completed approval-1 yes", "yes"],  # middleware
    [
        "workflow.execute {'workflow.type': 'hello', 'workflow.id': 'hello-1', 'workflow.run_id':",
        "workflow.query",
    ],
    ["It is sunny."],  # activity helpers
    ["rejected: expected Approval", "ada approved 42"],  # typed signals
    [  # versioning
        "order-1 ['charged A1', 'shipped']",
        "order-2 ['checked B2', 'charged B2', 'shipped']",
        "running orders: 0",
        "order-3 ['checked C3', 'charged C3', 'shipped']",
    ],
    [  # updates
        "total 2",
        "total 3",
        "rejected: quantities must be at least 1",
        "failed: KeyError",
        "known: ['add', 'remove']",
        "{'tea': 2, 'milk': 1}",
        "{'tea': 2, 'milk': 1}",
    ],
    ["continues at 6:", "continues at 21:", "total 28", "new run: True"],  # continue-as-new
    [  # child workflows
        "coffee: ValueError no price for 'coffee'",
        "['order-1/child-1-",
        "5.75 packed in a small box",
        "completed",
    ],
]


@each_example(EXAMPLES, EXPECTED_OUTPUT, "example")
def test_api_doc_example_prints_what_it_says(source: str, expected: list[str], tmp_path: Path) -> None:
    assert_printed_in_order(run_python(source, tmp_path), expected)
