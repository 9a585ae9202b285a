"""GraphQL over HTTP (the GraphQL-over-HTTP spec), at ``/graphql`` and ``/t/<slug>/graphql``.

- POST ``application/json`` bodies and GET query strings (GET runs queries only: 405).
- Responds ``application/graphql-response+json`` when accepted (request errors: 400),
  else legacy ``application/json`` (request errors: 200); other Accept values: 406.
- The tenant comes from the path prefix or the host; unknown: 404, suspended: 403,
  not at the schema head: 503. Each with a GraphQL error carrying ``extensions.code``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html

from saas.observability import Stopwatch, record_graphql, request_id_var, tenant_var
from schema.core.context import RequestContext
from schema.core.engine import GraphQLEngine, GraphQLRequest, Outcome
from schema.core.errors import ErrorCode
from tenants.errors import TenancyError, TenantNotFound, TenantNotReady, TenantSuspended
from tenants.resolver import TenantResolver
from tenants.scope import tenant_scope

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


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


def negotiate(accept: str | None) -> str | None:
    """The response media type, or None when nothing acceptable (406)."""
    if not accept:
        return JSON
    offered = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    if GRAPHQL_RESPONSE in offered:
        return GRAPHQL_RESPONSE
    if JSON in offered or "application/*" in offered or "*/*" in offered:
        return JSON
    return None


def _error_body(code: ErrorCode, message: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code.value}}]})


def _json_object(raw: Any, name: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise HTTPError(400, ErrorCode.BAD_REQUEST, f"{name} must be a JSON object")
    return raw


def _graphql_request(params: dict[str, Any], *, read_only: bool) -> GraphQLRequest:
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise HTTPError(400, ErrorCode.BAD_REQUEST, "the request has no query string")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise HTTPError(400, ErrorCode.BAD_REQUEST, "operationName must be a string")
    return GraphQLRequest(
        query=query,
        variables=_json_object(params.get("variables"), "variables"),
        operation_name=operation_name or None,
        read_only=read_only,
    )


class GraphQLHTTP:
    def __init__(
        self,
        engine: GraphQLEngine,
        resolver: TenantResolver,
        *,
        max_body_bytes: int,
        graphiql: bool,
    ) -> None:
        self.engine = engine
        self.resolver = resolver
        self.max_body_bytes = max_body_bytes
        self.graphiql_html = get_graphql_ide_html("graphiql") if graphiql else None

    async def handle(self, request: Request) -> Response:
        accept = request.headers.get("accept")
        if self.graphiql_html and request.method == "GET" and "text/html" in (accept or ""):
            return HTMLResponse(self.graphiql_html)
        media_type = negotiate(accept)
        if media_type is None:
            return Response(
                _error_body(ErrorCode.BAD_REQUEST, f"cannot answer in {accept[:100]!r}"),
                406,
                media_type=JSON,
            )
        try:
            return await self._serve(request, media_type)
        except HTTPError as exc:
            return Response(_error_body(exc.code, exc.message), exc.status, exc.headers, media_type)

    async def _serve(self, request: Request, media_type: str) -> Response:
        try:
            tenant = await self.resolver.resolve(
                host=request.headers.get("host", ""),
                path_slug=request.path_params.get("slug"),
            )
        except TenancyError as exc:
            raise self._tenancy_error(exc) from exc
        tenant_var.set(tenant.slug)
        graphql_request = await self._read(request)
        watch = Stopwatch()
        context = RequestContext(request_id=request_id_var.get() or "", tenant=tenant)
        try:
            async with tenant_scope(tenant):
                response = await self.engine.run(graphql_request, context)
        except TenancyError as exc:
            raise self._tenancy_error(exc) from exc
        record_graphql(
            tenant.slug,
            response.operation_name,
            response.operation_type,
            response.outcome.value,
            response.error_codes,
            watch.seconds,
        )
        if response.outcome is Outcome.METHOD_NOT_ALLOWED:
            return Response(orjson.dumps(response.payload), 405, {"allow": "POST"}, media_type)
        status = (
            400
            if (response.outcome is Outcome.REQUEST_ERROR and media_type == GRAPHQL_RESPONSE)
            else 200
        )
        return Response(orjson.dumps(response.payload), status, media_type=media_type)

    @staticmethod
    def _tenancy_error(exc: TenancyError) -> HTTPError:
        status, code = _TENANCY_STATUS.get(type(exc), (404, ErrorCode.TENANT_NOT_FOUND))
        headers = {"retry-after": "30"} if status == 503 else None
        return HTTPError(status, code, str(exc), headers)

    async def _read(self, request: Request) -> GraphQLRequest:
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
            if "variables" in params:
                params["variables"] = self._loads(params["variables"], "variables")
            return _graphql_request(params, read_only=True)
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != JSON:
            raise HTTPError(415, ErrorCode.BAD_REQUEST, "send the request as application/json")
        body = self._loads(await self._body(request), "the body")
        if not isinstance(body, dict):
            raise HTTPError(400, ErrorCode.BAD_REQUEST, "the body must be a JSON object")
        return _graphql_request(body, read_only=False)

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            raise HTTPError(413, ErrorCode.BAD_REQUEST, "the request body is too large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise HTTPError(413, ErrorCode.BAD_REQUEST, "the request body is too large")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _loads(raw: str | bytes, what: str) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise HTTPError(400, ErrorCode.BAD_REQUEST, f"{what} is not valid JSON") from None
