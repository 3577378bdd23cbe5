"""Around every request: a request id, latency and status metrics, one access-log line, and
the body-size limit.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so the request id set here is the one the
handlers and error handlers see, and a request that fails with a 500 is still counted.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.api.json_logging import request_id_var
from service.api.metrics import ApiMetrics

log = logging.getLogger("clearance.access")

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is reused only if it is short and plain, so it is safe in logs and headers.
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Probes and scrapes arrive every few seconds; their lines would drown the scans.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.in_progress.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(endpoint, scope["method"], status, seconds)
            path = scope.get("path", "")
            level = logging.DEBUG if path in QUIET_PATHS and status < 400 else logging.INFO
            log.log(
                level,
                "request",
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                    **state.get("log_fields", {}),
                },
            )
            request_id_var.reset(token)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if _VALID_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestBodyLimit:
    """413 for a body over ``max_bytes``: at once from Content-Length, else as bytes arrive.

    A streamed (chunked) body over the limit is cut off here, not in the app: the app is told
    the client went away, whatever it answers to that is dropped, and the 413 is sent from
    here. Raising from ``receive`` instead depends on every layer passing the exception on;
    FastAPI turns one it does not recognise while reading a body into a 400.
    (FastAPI's own ``max_body_size`` answers a declared oversize body in plain text; clients of
    this API get the JSON error shape on every status.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        over = started = False

        async def receive_limited() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_over(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to a body it never got
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_limited, send_unless_over)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(Request(scope), 413, "request_too_large", self._message())
        await response(scope, receive, send)

    def _message(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes (CLEARANCE_MAX_REQUEST_BYTES)"
