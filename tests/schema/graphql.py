"""Running GraphQL requests on the real schema and engine, as a given principal, for the
domains' API tests."""

from __future__ import annotations

from functools import cache
from typing import Any

from schema.core.context import RequestContext
from schema.core.engine import GraphQLEngine, GraphQLRequest
from schema.core.limits import QueryLimits
from schema.core.principal import Principal
from schema.root import build_schema
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.principals import context_for


@cache
def engine() -> GraphQLEngine:
    return GraphQLEngine(build_schema(), QueryLimits(), introspection=True)


async def gql(
    tenant: TenantRecord, principal: Principal, query: str, **variables: Any
) -> dict[str, Any]:
    """The response payload of ``query`` run in ``tenant`` as ``principal``."""
    return await gql_in(context_for(tenant, principal), query, **variables)


async def gql_in(context: RequestContext, query: str, **variables: Any) -> dict[str, Any]:
    """``gql`` with a context of the test's making (a source address, say)."""
    async with tenant_scope(context.tenant):
        response = await engine().run(GraphQLRequest(query, variables or None), context)
    return response.payload


def codes(payload: dict[str, Any]) -> list[str]:
    """``extensions.code`` of each top-level error."""
    return [e["extensions"]["code"] for e in payload.get("errors", [])]
