"""Request id, access log and HTTP metrics, as plain ASGI middleware (Starlette's
BaseHTTPMiddleware costs a task per request)."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saas.observability import Stopwatch, http_series, request_id_var, tenant_var

log = logging.getLogger("saas.access")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _CLIENT_REQUEST_ID.fullmatch(candidate):
                return candidate
    return secrets.token_hex(16)  # 32 hex digits, like a UUID's, at a fifth of the cost


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        id_token = request_id_var.set(request_id)
        tenant_token = tenant_var.set(None)
        watch = Stopwatch()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _record(scope, status, watch.seconds)
            tenant_var.reset(tenant_token)
            request_id_var.reset(id_token)


def _record(scope: Scope, status: int, seconds: float) -> None:
    """The request's metrics and access log line."""
    route = getattr(scope.get("route"), "path", "unmatched")
    requests, latency = http_series(scope["method"], route, status)
    requests.inc()
    latency.observe(seconds)
    if log.isEnabledFor(logging.INFO):
        _access_log(
            {
                "method": scope["method"],
                "path": scope["path"][:200],
                "status": status,
                "ms": round(seconds * 1000, 3),
            }
        )


# Every access line differs from this one only in its time and fields: copying its
# attributes costs a third of building a record (LogRecord.__init__ looks up the module
# name from the path, the thread, the process...), and it stays a real LogRecord for
# every handler and formatter, including pytest's caplog.
_TEMPLATE = log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (), None)


def _access_log(fields: dict[str, object]) -> None:
    """``log.info("request", extra=fields)`` without finding the caller (a stack walk on
    every request for a file and line that the JSON lines do not carry) and without
    building the record from scratch."""
    record = logging.LogRecord.__new__(logging.LogRecord)
    attributes = record.__dict__
    attributes.update(_TEMPLATE.__dict__)
    created = time.time()
    attributes["created"] = created
    attributes["msecs"] = int((created - int(created)) * 1000) + 0.0
    attributes["relativeCreated"] = _TEMPLATE.relativeCreated + (created - _TEMPLATE.created) * 1000
    attributes.update(fields)
    log.handle(record)
