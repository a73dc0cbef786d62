"""How ``ctx.execute_activity``'s options (retry policy, timeouts) map to Temporal's.

Its failures are translated in :mod:`beluga_temporal._failures`.

Used inside the workflow sandbox: everything here is deterministic.
"""

from __future__ import annotations

from datetime import timedelta

import temporalio.common

from beluga_core.engine import ALWAYS_NON_RETRYABLE
from beluga_core.workflow import RetryPolicy

#: Temporal needs a start-to-close or schedule-to-close timeout on every activity. When the caller gives
#: neither, one attempt may run this long. A worker that dies mid-attempt is only noticed when it runs out,
#: so pass ``timeout=`` (or ``heartbeat_timeout=`` with heartbeats) for anything that may hang.
UNBOUNDED_ACTIVITY_TIMEOUT = timedelta(days=365)


def temporal_retry_policy(policy: RetryPolicy) -> temporalio.common.RetryPolicy:
    """The Temporal retry policy for ``policy`` (Temporal has no jitter: delays are the base delays)."""
    return temporalio.common.RetryPolicy(
        initial_interval=policy.initial_interval,
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=policy.max_interval,
        maximum_attempts=policy.max_attempts,
        non_retryable_error_types=sorted({*policy.non_retryable_errors, *ALWAYS_NON_RETRYABLE}),
    )


def start_to_close(timeout: timedelta | None, total_timeout: timedelta | None) -> timedelta | None:
    """One attempt's timeout: ``timeout``; else none if ``total_timeout`` bounds the call; else unbounded."""
    if timeout is not None:
        return timeout
    return None if total_timeout is not None else UNBOUNDED_ACTIVITY_TIMEOUT
