"""The local web UI: a Starlette app over a workflow store (and an executor for signal and cancel).

Pages (plain HTML in ``templates/``, CSS and JS in ``static/``, all shipped with the package; nothing is
loaded from the network):

- ``/``: the workflow list, with status and type filters, refreshed every few seconds;
- ``/runs/{id}``: one run, its input, result or error, the history drawn as a timeline, and signal and
  cancel buttons (each behind a confirmation).

JSON API (the shapes of :mod:`._shapes`): ``GET /api/workflows?status=&type=&limit=``,
``GET /api/runs/{id}`` (the run with its history, its timeline and its children), ``POST /api/signal/{id}``
(``{"name": ..., "payload": ...}``) and ``POST /api/cancel/{id}``.

The POST routes are guarded (see :mod:`._security`): they need the per-process token the pages carry, refuse
cross-origin requests, and are refused altogether in read-only mode.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..api._protocols import DurableExecutor, WorkflowStore
from ..api._types import Signal, WorkflowFilter, WorkflowState, WorkflowStatus, utc_now
from ..api.errors import (
    InvalidInputError,
    StoreError,
    WorkflowError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from ._security import Guard, new_token, refuse_unsafe
from ._shapes import detail, newest_first, summary
from ._timeline import build_timeline

logger = logging.getLogger("beluga_core.ui")

STATIC = Path(__file__).with_name("static")
TEMPLATES = Path(__file__).with_name("templates")
_TITLES = {"list": "Workflows", "run": "Run"}


def create_app(
    store: WorkflowStore,
    executor: DurableExecutor | None = None,
    *,
    read_only: bool = False,
    source: str = "",
    token: str | None = None,
    allowed_hosts: set[str] | None = None,
    scrub: Callable[[str], str] = lambda text: text,
) -> Starlette:
    """The web UI over ``store``; ``executor`` sends signals and cancellations (none: read-only).

    ``source`` names the store on the pages (give it redacted); ``token`` is the secret the POST routes
    require (a fresh random one by default); ``allowed_hosts`` are the host names the app answers to (None:
    any; the CLI passes the loopback names when it binds a loopback address, which stops DNS rebinding);
    ``scrub`` redacts secrets from error messages before they are sent.
    """
    token = token or new_token()
    read_only = read_only or executor is None
    ui = _UI(store, executor, read_only=read_only, source=source, token=token, scrub=scrub)
    routes = [
        Route("/", ui.list_page),
        Route("/runs/{workflow_id:path}", ui.run_page),
        Route("/api/workflows", ui.list_api),
        Route("/api/runs/{workflow_id:path}", ui.run_api),
        Route("/api/signal/{workflow_id:path}", ui.signal_api, methods=["POST"]),
        Route("/api/cancel/{workflow_id:path}", ui.cancel_api, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Guard, allowed_hosts=allowed_hosts)])


class _UI:
    def __init__(
        self,
        store: WorkflowStore,
        executor: DurableExecutor | None,
        *,
        read_only: bool,
        source: str,
        token: str,
        scrub: Callable[[str], str],
    ) -> None:
        self.store = store
        self.executor = executor
        self.read_only = read_only
        self.source = source
        self.token = token
        self.scrub = scrub

    # -- pages -----------------------------------------------------------------------------------------

    def _page(self, name: str) -> HTMLResponse:
        """``templates/page.html`` (the head and the top bar) around ``templates/{name}.html``."""
        text = (TEMPLATES / "page.html").read_text(encoding="utf-8")
        text = text.replace("__BELUGA_BODY__", (TEMPLATES / f"{name}.html").read_text(encoding="utf-8"))
        for placeholder, value in (
            ("__BELUGA_PAGE__", name),
            ("__BELUGA_TITLE__", _TITLES[name]),
            ("__BELUGA_TOKEN__", self.token),
            ("__BELUGA_READ_ONLY__", "true" if self.read_only else "false"),
            ("__BELUGA_SOURCE__", html.escape(self.source)),
        ):
            text = text.replace(placeholder, value)
        return HTMLResponse(text, headers={"Cache-Control": "no-store"})

    async def list_page(self, request: Request) -> Response:
        return self._page("list")

    async def run_page(self, request: Request) -> Response:
        return self._page("run")

    # -- reading ---------------------------------------------------------------------------------------

    async def list_api(self, request: Request) -> Response:
        params = request.query_params
        status = params.get("status") or None
        try:
            wanted = WorkflowFilter(
                status=WorkflowStatus(status) if status else None,
                workflow_type=params.get("type") or None,
                limit=int(params.get("limit") or 0),
            )
        except ValueError:
            return _error(400, f"bad filter: status {status!r}, limit {params.get('limit')!r}")
        try:
            states = await self.store.list(wanted)
        except WorkflowError as exc:
            return self._failure(exc)
        return JSONResponse(
            {
                "source": self.source,
                "read_only": self.read_only,
                "now": utc_now().isoformat(),
                "workflows": [_listed(state) for state in newest_first(states)],
            }
        )

    async def run_api(self, request: Request) -> Response:
        workflow_id = request.path_params["workflow_id"]
        try:
            state = await self.store.load(workflow_id)
        except WorkflowError as exc:
            return self._failure(exc)
        if state is None:
            return _error(404, f"workflow {workflow_id!r} not found")
        now = utc_now()
        parent = state.parent
        return JSONResponse(
            {
                "source": self.source,
                "read_only": self.read_only,
                "now": now.isoformat(),
                "workflow": detail(state),
                "parent": parent.model_dump(mode="json") if parent is not None else None,
                "timeline": build_timeline(state, now).to_json(),
            }
        )

    # -- acting ----------------------------------------------------------------------------------------

    async def signal_api(self, request: Request) -> Response:
        refused = refuse_unsafe(request, self.token, self.read_only)
        if refused is not None:
            return refused
        workflow_id = request.path_params["workflow_id"]
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return _error(400, 'expected a JSON object {"name": "<signal name>", "payload": <any JSON>}')
        assert self.executor is not None
        try:
            await self.executor.signal(workflow_id, Signal(name=body["name"], payload=body.get("payload")))
        except WorkflowError as exc:
            return self._failure(exc)
        logger.info("signal %r sent to workflow %s from the web UI", body["name"], workflow_id)
        return JSONResponse({"ok": True, "workflow_id": workflow_id, "signal": body["name"]})

    async def cancel_api(self, request: Request) -> Response:
        refused = refuse_unsafe(request, self.token, self.read_only)
        if refused is not None:
            return refused
        workflow_id = request.path_params["workflow_id"]
        assert self.executor is not None
        try:
            await self.executor.cancel(workflow_id)
        except WorkflowError as exc:
            return self._failure(exc)
        logger.info("cancellation of workflow %s requested from the web UI", workflow_id)
        return JSONResponse({"ok": True, "workflow_id": workflow_id})

    def _failure(self, exc: WorkflowError) -> Response:
        status = (
            404
            if isinstance(exc, WorkflowNotFoundError)
            else 409
            if isinstance(exc, WorkflowNotRunningError)
            else 400
            if isinstance(exc, InvalidInputError)
            else 502
            if isinstance(exc, StoreError)
            else 500
        )
        return _error(status, self.scrub(str(exc)))


def _listed(state: WorkflowState) -> dict[str, Any]:
    """A summary, and the parent's id for a child run (when the listing has its history)."""
    parent = state.parent
    return {**summary(state), "parent_id": parent.workflow_id if parent is not None else None}


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
