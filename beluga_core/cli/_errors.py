"""Operator errors: one clear line, a non-zero exit, no traceback (``--debug`` shows it)."""

from __future__ import annotations


class OperatorError(Exception):
    """A mistake or a condition the operator can act on: printed as ``beluga: <message>``, exit ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


#: ``result``: the workflow has not finished (no ``--wait``, or it ran out).
STILL_RUNNING = 3
