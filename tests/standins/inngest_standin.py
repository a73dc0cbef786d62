"""A stand-in for an Inngest server speaking the seed's ``/v1/workflows`` protocol; none is installable here.

It is not Inngest. It implements exactly the protocol InngestStore documents, with the data kept in this
object so that every store instance talking to it sees the same states:

- ``PUT /v1/workflows/{id}``: store the JSON body (204); a body that is not JSON is 400.
- ``GET /v1/workflows/{id}``: the stored body (200) or 404.
- ``DELETE /v1/workflows/{id}``: 204, or 404 when there is nothing to delete.
- ``GET /v1/workflows?status=&type=&limit=``: a JSON array of the stored states matching ``status`` and
  ``type`` (``workflow_type``), newest ``created_at`` first, cut to ``limit``.
- With ``event_key`` set, a request without ``Authorization: Bearer <event_key>`` is 401 (its body repeats
  the header it got when ``echo_wrong_key`` is set, so tests can check the store scrubs an echoed secret).
- For tests: ``delay`` seconds are waited before each answer (client timeouts), ``fail_with`` answers every
  request with that status, and ``ignore_query`` makes the listing ignore its parameters (as a server that
  does not support them would).

``{id}`` is one percent-decoded path segment, so ids with ``/``, ``?`` or ``#`` work only when escaped.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ._http import Request, Response, StandinServer


class InngestStandin(StandinServer):
    """The ``/v1/workflows`` protocol over an in-process dict of workflow id -> stored JSON body."""

    def __init__(self, event_key: str | None = None, echo_wrong_key: bool = False) -> None:
        super().__init__()
        self.event_key = event_key
        self.echo_wrong_key = echo_wrong_key
        self.delay = 0.0
        self.fail_with: int | None = None
        self.ignore_query = False
        self.workflows: dict[str, bytes] = {}

    def handle(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            return Response.of_json(self.fail_with, {"error": "failing on purpose"})
        got = request.headers.get("authorization")
        if self.event_key is not None and got != f"Bearer {self.event_key}":
            error = f"unauthorized: {got!r}" if self.echo_wrong_key else "unauthorized"
            return Response.of_json(401, {"error": error})
        segments = request.segments
        if segments[:2] != ["v1", "workflows"] or len(segments) > 3:
            return Response.of_json(404, {"error": f"no route /{'/'.join(segments)}"})
        with self.lock:
            if len(segments) == 2:
                return self._list(request) if request.method == "GET" else Response(405)
            return self._one(request, segments[2])

    def _one(self, request: Request, workflow_id: str) -> Response:
        if request.method == "PUT":
            try:
                json.loads(request.body)
            except ValueError:
                return Response.of_json(400, {"error": "body is not JSON"})
            self.workflows[workflow_id] = request.body
            return Response(204)
        if request.method == "GET":
            body = self.workflows.get(workflow_id)
            if body is None:
                return Response.of_json(404, {"error": "not found"})
            return Response(200, body, {"Content-Type": "application/json"})
        if request.method == "DELETE":
            if self.workflows.pop(workflow_id, None) is None:
                return Response.of_json(404, {"error": "not found"})
            return Response(204)
        return Response(405)

    def _list(self, request: Request) -> Response:
        states: list[Any] = [json.loads(body) for body in self.workflows.values()]
        query = {} if self.ignore_query else request.query
        status, kind = query.get("status"), query.get("type")
        matching = [
            s
            for s in states
            if (status is None or _field(s, "status") == status)
            and (kind is None or _field(s, "workflow_type") == kind)
        ]
        matching.sort(key=lambda s: str(_field(s, "created_at")), reverse=True)
        limit = int(query.get("limit", "0"))
        return Response.of_json(200, matching[:limit] if limit > 0 else matching)


def _field(state: Any, name: str) -> Any:
    return state.get(name) if isinstance(state, dict) else None
