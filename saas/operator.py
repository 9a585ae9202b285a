"""The platform operator's API at ``/operator/graphql``: the operator schema over the
same GraphQL-over-HTTP protocol as a tenant's API, for requests carrying an operator's
API key (``Authorization: Bearer sop_...``, see ``schema/operator/credentials.py``).

Only on the platform's own host: a tenant's subdomain or custom domain answers 404 for
it (a tenant may run its own proxy, TLS or CORS on those), and no ``/t/<slug>/`` route
leads to it.
"""

from __future__ import annotations

import logging

from starlette.types import Receive, Scope

from saas.auth import Unauthorized, bearer_token
from saas.graphql_http import GraphQLHTTP, HTTPError, _Reply, client_address
from saas.observability import Stopwatch, request_id_var
from schema.audit.service import Acting, acting_as
from schema.core.errors import ErrorCode
from schema.operator.context import OperatorContext, OperatorIdentity
from schema.operator.credentials import authenticate
from tenants.errors import TenantNotFound

log = logging.getLogger("saas.operator")
METRICS_LABEL = "(operator)"  # in the tenant label of the GraphQL metrics: no slug looks so


def _unauthenticated() -> HTTPError:
    """The same answer for a missing, malformed, unknown or disabled key."""
    return HTTPError(
        401,
        ErrorCode.UNAUTHENTICATED,
        "send a valid operator API key: Authorization: Bearer <key>",
        {"www-authenticate": 'Bearer realm="operator"'},
    )


class OperatorGraphQL(GraphQLHTTP):
    """``GraphQLHTTP`` with the operator schema's engine: who asks is the operator whose
    key the request carries, and no tenant is entered (resolvers enter one themselves)."""

    async def _serve(
        self, scope: Scope, receive: Receive, headers: dict[bytes, str], media_type: str
    ) -> _Reply:
        await self._refuse_tenant_hosts(headers.get(b"host", ""))
        try:
            token = bearer_token(headers.get(b"authorization"))
        except Unauthorized:
            raise _unauthenticated() from None
        operator = await authenticate(token) if token else None
        if operator is None:
            raise _unauthenticated()
        graphql_request = await self._read(scope, receive, headers)
        watch = Stopwatch()
        context = OperatorContext(
            request_id=request_id_var.get() or "",
            operator=OperatorIdentity(operator.id, operator.name),
            source_address=client_address(scope),
        )
        acting = Acting(context.principal, context.source_address, context.request_id)
        with acting_as(acting):
            response = await self.engine.run(graphql_request, context)
        log.info(
            "operator request",
            extra={"operator": operator.name, "operation": response.operation_name,
                   "outcome": response.outcome.value, "codes": response.error_codes},
        )  # fmt: skip
        return self._answer(response, media_type, METRICS_LABEL, watch.seconds)

    async def _refuse_tenant_hosts(self, host: str) -> None:
        try:
            tenant = await self.resolver.resolve(host=host, path_slug=None)
        except TenantNotFound:
            return  # not a tenant's host: the platform's own
        raise HTTPError(
            404, ErrorCode.NOT_FOUND, f"the operator API is not served on {tenant.slug}'s hosts"
        )
