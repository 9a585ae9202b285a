"""The operator schema: every field needs an operator, and the committed SDL is current."""

from __future__ import annotations

from types import SimpleNamespace

from schema.core.engine import GraphQLEngine, GraphQLRequest
from schema.core.limits import QueryLimits
from schema.core.permissions import Public
from schema.operator.api import OPERATOR_SDL_PATH, OperatorOnly, build_operator_schema
from schema.root import export_sdl
from tests.schema.test_permissions import root_permission_classes


def test_every_operator_field_needs_an_operator_and_none_is_public() -> None:
    fields = root_permission_classes(build_operator_schema())
    assert set(fields) == {
        "Query.tenants", "Query.tenant", "Mutation.tenantCreate", "Mutation.tenantSuspend",
        "Mutation.tenantResume", "Mutation.tenantDelete", "Mutation.tenantOwnerCreate",
    }  # fmt: skip
    lacking = sorted(name for name, classes in fields.items() if OperatorOnly not in classes)
    assert lacking == [], f"operator fields without permission_classes=[operator_only]: {lacking}"
    public = [
        name for name, classes in fields.items() if any(issubclass(c, Public) for c in classes)
    ]
    assert public == [], "the operator API has no public fields"


async def test_a_context_without_an_operator_is_refused_by_every_field() -> None:
    engine = GraphQLEngine(build_operator_schema(), QueryLimits(), introspection=False)
    tenant_like = SimpleNamespace(request_id="r", principal=None)
    query = '{ tenant(slug: "acme") { slug } }'
    response = await engine.run(GraphQLRequest(query), tenant_like)
    assert response.payload["data"] == {"tenant": None}
    assert [e["extensions"]["code"] for e in response.payload["errors"]] == ["UNAUTHENTICATED"]
    mutation = 'mutation { tenantSuspend(slug: "acme", reason: "r") { errors { code } } }'
    response = await engine.run(GraphQLRequest(mutation), tenant_like)
    assert response.payload["data"] is None
    assert [e["extensions"]["code"] for e in response.payload["errors"]] == ["UNAUTHENTICATED"]


def test_committed_operator_sdl_matches_the_code() -> None:
    assert OPERATOR_SDL_PATH.read_text() == export_sdl(build_operator_schema()), (
        f"{OPERATOR_SDL_PATH} is out of date: run `saas schema export` and commit the result"
    )
