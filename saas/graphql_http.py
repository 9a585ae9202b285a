"""GraphQL over HTTP (the GraphQL-over-HTTP spec), at ``/graphql`` and ``/t/<slug>/graphql``.

- POST ``application/json`` bodies and GET query strings (GET runs queries only: 405).
- POST ``multipart/form-data`` bodies with files, on the tenants' endpoint: the GraphQL
  multipart request spec (``saas/multipart.py``), up to ``SAAS_UPLOAD_MAX_BYTES`` (413).
- Responds ``application/graphql-response+json`` when accepted (request errors: 400),
  else legacy ``application/json`` (request errors: 200); other Accept values: 406.
- The tenant comes from the path prefix or the host; unknown: 404, suspended: 403,
  not at the schema head: 503. Each with a GraphQL error carrying ``extensions.code``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, NamedTuple

import orjson
from starlette.datastructures import FormData, Headers, QueryParams
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send
from strawberry.http.ides import get_graphql_ide_html

from saas.auth import Unauthorized
from saas.multipart import BadMultipart, UploadLimits, is_multipart, operations_of, read_form
from saas.observability import Stopwatch, record_graphql, request_id_var, tenant_var
from schema.audit.service import Acting, acting_as
from schema.core.context import RequestContext
from schema.core.engine import GraphQLEngine, GraphQLRequest, GraphQLResponse, Outcome
from schema.core.errors import ErrorCode
from schema.core.principal import ANONYMOUS, Principal
from tenants.errors import TenancyError, TenantNotFound, TenantNotReady, TenantSuspended
from tenants.records import TenantRecord
from tenants.resolver import TenantResolver
from tenants.scope import tenant_scope

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
HTML = "text/html; charset=utf-8"


class HTTPError(Exception):
    def __init__(
        self, status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


_TENANCY_STATUS: dict[type[TenancyError], tuple[int, ErrorCode]] = {
    TenantNotFound: (404, ErrorCode.TENANT_NOT_FOUND),
    TenantSuspended: (403, ErrorCode.TENANT_SUSPENDED),
    TenantNotReady: (503, ErrorCode.TENANT_NOT_READY),
}


def tenancy_error(exc: TenancyError) -> HTTPError:
    """What a request for an unknown, suspended or not-ready tenant gets (also used by
    the OAuth endpoints)."""
    status, code = _TENANCY_STATUS.get(type(exc), (404, ErrorCode.TENANT_NOT_FOUND))
    headers = {"retry-after": "30"} if status == 503 else None
    return HTTPError(status, code, str(exc), headers)


def negotiate(accept: str | None) -> str | None:
    """The response media type, or None when nothing acceptable (406)."""
    if not accept:
        return JSON
    offered = [
        media_type.strip().lower()
        for media_type, _, parameters in (part.partition(";") for part in accept.split(","))
        if not _refused(parameters)
    ]
    if GRAPHQL_RESPONSE in offered:
        return GRAPHQL_RESPONSE
    if JSON in offered or "application/*" in offered or "*/*" in offered:
        return JSON
    return None


def _refused(parameters: str) -> bool:
    """``q=0`` means "not this one" (RFC 9110)."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "q":
            try:
                return float(value) == 0
            except ValueError:
                return False
    return False


def error_body(code: ErrorCode, message: str) -> bytes:
    """A refusal as GraphQL errors: what every endpoint of the API answers with."""
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code.value}}]})


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, ErrorCode.BAD_REQUEST, f"the request body is larger than {limit} bytes")


async def _chunks(
    receive: Receive, declared: str | None, limit: int
) -> AsyncGenerator[bytes, None]:
    """The body's chunks as they come; 413 as soon as it (or its declared length) passes
    ``limit``."""
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_large(limit)
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk
        if not message.get("more_body", False):
            return


def _json_object(raw: Any, name: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise HTTPError(400, ErrorCode.BAD_REQUEST, f"{name} must be a JSON object")
    return raw


def _is_utf8_json(content_type: str) -> bool:
    """``application/json``, with no charset or ``charset=utf-8`` (JSON is UTF-8)."""
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    charsets = [p.split("=", 1)[1].strip('"') for p in parameters if p.startswith("charset=")]
    return media_type == JSON and all(charset == "utf-8" for charset in charsets)


def _graphql_request(params: dict[str, Any], *, read_only: bool) -> GraphQLRequest:
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise HTTPError(400, ErrorCode.BAD_REQUEST, "the request has no query string")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise HTTPError(400, ErrorCode.BAD_REQUEST, "operationName must be a string")
    _json_object(params.get("extensions"), "extensions")  # none are used yet, but checked
    return GraphQLRequest(
        query=query,
        variables=_json_object(params.get("variables"), "variables"),
        operation_name=operation_name or None,
        read_only=read_only,
    )


_HEADERS = frozenset((b"accept", b"authorization", b"host", b"content-type", b"content-length"))


def _headers(scope: Scope) -> dict[bytes, str]:
    """The headers this endpoint reads, first occurrence each (as Starlette's
    ``Headers.get``): one pass over the raw list instead of a scan per lookup."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


# Turns (tenant, Authorization header) into the principal, inside the tenant's scope;
# raises saas.auth.Unauthorized for credentials that are not valid here.
Authenticate = Callable[[TenantRecord, str | None], Awaitable[Principal]]


def client_address(scope: Scope) -> str | None:
    """The peer's address; behind a proxy, uvicorn's proxy-headers handling puts the
    forwarded client here (only for the proxies ``--forwarded-allow-ips`` trusts). What
    is not an IP address (a proxy's odd header, a test client's name) is not one: None,
    so that records keeping the address never store whatever a header said."""
    client = scope.get("client")
    if not client:
        return None
    try:
        return str(ipaddress.ip_address(client[0]))
    except ValueError:
        return None


async def anonymous(tenant: TenantRecord, authorization: str | None) -> Principal:
    """For an endpoint that takes no tenant credentials: everyone is anonymous."""
    return ANONYMOUS


class _Reply(NamedTuple):
    status: int
    body: bytes
    media_type: str
    headers: dict[str, str] | None = None


class GraphQLHTTP:
    """An ASGI endpoint (mounted as a route's app) rather than a Starlette request
    function: the request and response objects and the exception wrapper per request
    cost more than this endpoint's own work for small queries.

    A subclass serves another schema with the same protocol by overriding ``_serve``
    (the operator's API, ``saas/operator.py``). Multipart requests with files are served
    only with ``uploads`` limits."""

    def __init__(
        self,
        engine: GraphQLEngine,
        resolver: TenantResolver,
        *,
        authenticate: Authenticate = anonymous,
        max_body_bytes: int,
        graphiql: bool,
        uploads: UploadLimits | None = None,
    ) -> None:
        self.engine = engine
        self.resolver = resolver
        self.authenticate = authenticate
        self.max_body_bytes = max_body_bytes
        self.uploads = uploads
        self.graphiql_html = get_graphql_ide_html("graphiql").encode() if graphiql else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reply = await self._reply(scope, receive)
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (reply.headers or {}).items()]
        raw.append((b"content-length", str(len(reply.body)).encode()))
        raw.append((b"content-type", reply.media_type.encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw})
        await send({"type": "http.response.body", "body": reply.body})

    async def _reply(self, scope: Scope, receive: Receive) -> _Reply:
        headers = _headers(scope)
        accept = headers.get(b"accept")
        if self.graphiql_html and scope["method"] == "GET" and "text/html" in (accept or ""):
            return _Reply(200, self.graphiql_html, HTML)
        media_type = negotiate(accept)
        if media_type is None:
            assert accept is not None  # negotiate() accepts a missing header
            message = f"cannot answer in {accept[:100]!r}"
            return _Reply(406, error_body(ErrorCode.BAD_REQUEST, message), JSON)
        try:
            return await self._serve(scope, receive, headers, media_type)
        except HTTPError as exc:
            return _Reply(exc.status, error_body(exc.code, exc.message), media_type, exc.headers)
        except BadMultipart as exc:
            return _Reply(400, error_body(ErrorCode.BAD_REQUEST, str(exc)), media_type)

    async def _serve(
        self, scope: Scope, receive: Receive, headers: dict[bytes, str], media_type: str
    ) -> _Reply:
        try:
            tenant = await self.resolver.resolve(
                host=headers.get(b"host", ""),
                path_slug=scope.get("path_params", {}).get("slug"),
            )
        except TenancyError as exc:
            raise tenancy_error(exc) from exc
        tenant_var.set(tenant.slug)
        graphql_request, form = await self._read_with_files(scope, receive, headers)
        watch = Stopwatch()
        try:
            async with tenant_scope(tenant):
                context = await self._context(scope, tenant, headers.get(b"authorization"))
                acting = Acting(context.principal, context.source_address, context.request_id)
                with acting_as(acting):
                    response = await self.engine.run(graphql_request, context)
        except TenancyError as exc:
            raise tenancy_error(exc) from exc
        finally:
            if form is not None:
                await form.close()  # the uploads' temporary files
        return self._answer(response, media_type, tenant.slug, watch.seconds)

    @staticmethod
    def _answer(
        response: GraphQLResponse, media_type: str, metrics_label: str, seconds: float
    ) -> _Reply:
        """The reply to an executed request, counted in the GraphQL metrics under
        ``metrics_label`` (the tenant's slug)."""
        record_graphql(
            metrics_label,
            response.operation_name,
            response.operation_type,
            response.outcome.value,
            response.error_codes,
            seconds,
        )
        body = orjson.dumps(response.payload)
        if response.outcome is Outcome.METHOD_NOT_ALLOWED:
            return _Reply(405, body, media_type, {"allow": "POST"})
        status = (
            400
            if (response.outcome is Outcome.REQUEST_ERROR and media_type == GRAPHQL_RESPONSE)
            else 200
        )
        return _Reply(status, body, media_type)

    async def _context(
        self, scope: Scope, tenant: TenantRecord, authorization: str | None
    ) -> RequestContext:
        try:
            principal = await self.authenticate(tenant, authorization)
        except Unauthorized as exc:
            challenge = {"www-authenticate": exc.challenge(tenant)}
            raise HTTPError(401, ErrorCode.UNAUTHENTICATED, exc.message, challenge) from None
        return RequestContext(
            request_id=request_id_var.get() or "",
            tenant=tenant,
            principal=principal,
            source_address=client_address(scope),
        )

    async def _read_with_files(
        self, scope: Scope, receive: Receive, headers: dict[bytes, str]
    ) -> tuple[GraphQLRequest, FormData | None]:
        """The request, and for a multipart one the form holding its files (to close once
        the request is done)."""
        multipart = scope["method"] == "POST" and is_multipart(headers.get(b"content-type", ""))
        if self.uploads is None or not multipart:
            return await self._read(scope, receive, headers), None
        limit = self.uploads.max_bytes
        stream = _chunks(receive, headers.get(b"content-length"), limit)
        form = await read_form(Headers(raw=scope["headers"]), stream, self.uploads)
        try:
            return _graphql_request(operations_of(form), read_only=False), form
        except BaseException:
            await form.close()
            raise

    async def _read(
        self, scope: Scope, receive: Receive, headers: dict[bytes, str]
    ) -> GraphQLRequest:
        if scope["method"] == "GET":
            params: dict[str, Any] = dict(QueryParams(scope["query_string"]))
            for name in ("variables", "extensions"):
                if name in params:
                    params[name] = self._loads(params[name], name)
            return _graphql_request(params, read_only=True)
        if not _is_utf8_json(headers.get(b"content-type", "")):
            files = " (multipart/form-data to send files)" if self.uploads else ""
            message = f"send the request as application/json in UTF-8{files}"
            raise HTTPError(415, ErrorCode.BAD_REQUEST, message)
        body = self._loads(await self._body(receive, headers.get(b"content-length")), "the body")
        if not isinstance(body, dict):
            raise HTTPError(400, ErrorCode.BAD_REQUEST, "the body must be a JSON object")
        return _graphql_request(body, read_only=False)

    async def _body(self, receive: Receive, declared: str | None) -> bytes:
        return b"".join([chunk async for chunk in _chunks(receive, declared, self.max_body_bytes)])

    @staticmethod
    def _loads(raw: str | bytes, what: str) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise HTTPError(400, ErrorCode.BAD_REQUEST, f"{what} is not valid JSON") from None
