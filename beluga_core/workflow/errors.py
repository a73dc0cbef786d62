"""Errors raised by every executor and store: the same classes from the DefaultExecutor and from Temporal.

Defined in :mod:`beluga_core.api.errors`; this is their public home (their ``__module__`` says so).
"""

from ..api import errors as _defined
from ..api.errors import *  # noqa: F403  (every public error, as listed in its __all__)

__all__ = list(_defined.__all__)
