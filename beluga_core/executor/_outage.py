"""One executor's view of its store failing: logged once per outage, not once per run or retry.

While the store fails, every run that tries to write is suspended, each suspended run retries with backoff,
and the lease loop retries every second: with many runs that would be a flood of identical lines. The first
failure of an outage is logged (an error when it suspends a run, else a warning), the others only at debug
level, and the end of the outage (the store answered a call again) one line that says how long it lasted.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("beluga_core.executor")


class StoreOutage:
    """Whether the store is failing, as this executor saw it last."""

    def __init__(self, executor: str) -> None:
        self._executor = executor
        self._since: float | None = None
        self._failures = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, level: int, message: str, *args: object) -> None:
        """A call to the store failed: logged at ``level`` if it starts an outage, else at debug level."""
        self._failures += 1
        if self._since is not None:
            logger.debug(message, *args)
            return
        self._since = time.monotonic()
        logger.log(
            level,
            message + " (store errors are logged at debug level until the store answers again)",
            *args,
        )

    def answered(self) -> None:
        """A call to the store succeeded: the outage, if there was one, is over."""
        if self._since is None:
            return
        lasted, failures = time.monotonic() - self._since, self._failures
        self._since, self._failures = None, 0
        logger.warning(
            "executor %s: the store answers again after %.1fs (%d failed calls meanwhile); the runs it "
            "suspended resume",
            self._executor,
            lasted,
            failures,
        )
