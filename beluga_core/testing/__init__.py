"""The testing kit: run workflows in tests without waiting for their timers, with fake activities.

- :class:`DefaultTestEnv`: a ``DefaultExecutor`` on a virtual clock (``await env.now()``,
  ``await env.sleep(duration)``, time skipped while a result is awaited), with activity overrides by name.
  ``beluga_temporal.testing.TemporalTestEnv`` is the same on Temporal's time-skipping test server.
- :func:`replay`: re-run recorded histories against the current workflow code (the pre-deploy check).
- ``beluga_core.testing.pytest_plugin``: a ``workflow_env`` fixture that runs one test body on each executor.

Overrides: an entry of ``activities=`` replaces the activity of the same Beluga name that workflow code calls.
It must bear the name of an activity the environment's workflows call; see ``_activities`` for how those are
found (the functions the workflows' code refers to).
"""

from ._activities import EnvironmentActivities, environment_activities
from ._env import DefaultTestEnv
from ._replay import RecordedRun, ReplayedRun, ReplayReport, replay

__all__ = [
    "DefaultTestEnv",
    "EnvironmentActivities",
    "RecordedRun",
    "ReplayReport",
    "ReplayedRun",
    "environment_activities",
    "replay",
]
