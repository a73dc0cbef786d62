"""The embedded durable executor: event-sourced, resumable after a crash, one process."""

from ._executor import DefaultExecutor
from ._handle import DefaultWorkflowHandle

__all__ = ["DefaultExecutor", "DefaultWorkflowHandle"]
