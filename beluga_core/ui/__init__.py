"""The local web UI of the operator tools (``beluga ui``): a workflow list and a run page with its timeline.

``create_app(store, executor=None, read_only=False, ...)`` builds the ASGI app (Starlette; install the ``ui``
extra); serve it with uvicorn, or mount it in your own app. See :mod:`beluga_core.ui._app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":  # Starlette is an extra: imported only when the app is built
        from ._app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_app"]
