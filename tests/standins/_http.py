"""A small threaded HTTP server on 127.0.0.1 (stdlib only) that the stand-ins build on.

A stand-in implements :meth:`StandinServer.handle`; the server parses each request, logs it (tests count
requests with :attr:`StandinServer.requests`), and writes the answer.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from typing_extensions import Self


@dataclass
class Request:
    """One parsed request: path segments are percent-decoded one by one, so an escaped ``/`` stays inside."""

    method: str
    line: str  # the request line as received, e.g. "GET /v1/workflows/x HTTP/1.1"
    segments: list[str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, json.dumps(value).encode(), all_headers)


class StandinServer:
    """Serves :meth:`handle` on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (method, raw path) of every request, in order
        self.received: list[Request] = []  # every request as parsed (request line, headers, body), in order
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "stand-in not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler_for(standin: StandinServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # one buffered write per response and no Nagle: otherwise keep-alive requests stall on delayed ACKs
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                line=self.requestline,
                segments=[unquote(s) for s in url.path.split("/")[1:]],
                query={k: v[-1] for k, v in parse_qs(url.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            with standin.lock:
                standin.requests.append((self.command, self.path))
                standin.received.append(request)
            response = standin.handle(request)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.status != 204:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.status != 204:
                self.wfile.write(response.body)

        do_GET = do_PUT = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    return Handler
