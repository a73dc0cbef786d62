"""The operator tools' command line: ``beluga`` (also ``python -m beluga_core``). See :mod:`._app`."""

from ._app import cli, main

__all__ = ["cli", "main"]
