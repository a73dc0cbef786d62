"""Shared test setup. Server fixtures live in ``tests/fixtures/``, one module per server.

Every test and fixture runs on one session-wide event loop (see ``pyproject.toml``), so session-scoped
servers and the clients made from them can be used from any test.
"""

import importlib.util

pytest_plugins = [
    name
    for name in ("tests.fixtures.temporal", "tests.fixtures.nats", "tests.fixtures.kafka")
    if importlib.util.find_spec(name) is not None
]
