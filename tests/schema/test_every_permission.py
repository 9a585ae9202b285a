"""Every permission a root field declares, checked through the real engine: a principal
holding every other permission is refused (and a refused mutation changes nothing), and
a principal holding just that one permission is let through.

The fields are found by walking the built schema, so a new field is covered the moment
it exists. Arguments are filled with placeholder values of the right type: the
permission check runs before the resolver, so the placeholders never reach a service.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from tortoise import Tortoise

from schema.audit.models import AuditRecord
from schema.core.engine import GraphQLEngine, GraphQLRequest
from schema.core.limits import QueryLimits
from schema.core.permissions import declared_permission, declared_tenant_wide
from schema.root import build_schema
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.principals import context_for, user_with

SCHEMA = build_schema()
PLACEHOLDERS: dict[str, Any] = {
    "String": "x",
    "ID": "eDox",  # base64 of "x:1"
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "DateTime": "2026-01-01T00:00:00+00:00",
    "Date": "2026-01-01",
    "Decimal": "1",
    "JSON": {},
}
# What a refused request may write: the audit record of the refusal itself.
RECORDS_OF_REFUSALS = "schema.audit.models"


def declared_fields() -> list[tuple[str, str, str]]:
    """(operation type, field name, permission) for every root field needing one."""
    found = []
    for operation, root in (("query", SCHEMA.query), ("mutation", SCHEMA.mutation)):
        definition = SCHEMA.get_type_by_name(root.__strawberry_definition__.name) if root else None
        for field in definition.fields if definition else ():
            permission = declared_permission(field.permission_classes)
            if permission not in (None, "public", "authenticated"):
                name = SCHEMA.config.name_converter.get_graphql_name(field)
                found.append((operation, name, permission))
    return found


def tenant_wide_fields() -> list[tuple[str, str, str]]:
    """The declared fields that need their permission for the whole tenant."""
    found = []
    for operation, root in (("query", SCHEMA.query), ("mutation", SCHEMA.mutation)):
        definition = SCHEMA.get_type_by_name(root.__strawberry_definition__.name) if root else None
        for field in definition.fields if definition else ():
            if declared_tenant_wide(field.permission_classes):
                name = SCHEMA.config.name_converter.get_graphql_name(field)
                found.append((operation, name, declared_permission(field.permission_classes)))
    return found


FIELDS = declared_fields()
TENANT_WIDE = tenant_wide_fields()
EVERY_PERMISSION = sorted({permission for _, _, permission in FIELDS})


def placeholder(type_: GraphQLInputType) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return placeholder(type_.of_type)
    if isinstance(type_, GraphQLList):
        return []
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: placeholder(field.type)
            for name, field in type_.fields.items()
            if isinstance(field.type, GraphQLNonNull)
        }
    assert isinstance(type_, GraphQLScalarType)
    return PLACEHOLDERS[type_.name]


def request_for(operation: str, name: str) -> GraphQLRequest:
    root = SCHEMA._schema.mutation_type if operation == "mutation" else SCHEMA._schema.query_type
    assert root is not None
    field: GraphQLField = root.fields[name]
    required = {
        arg_name: arg
        for arg_name, arg in field.args.items()
        if isinstance(arg.type, GraphQLNonNull)
    }
    variables = {arg_name: placeholder(arg.type) for arg_name, arg in required.items()}
    return GraphQLRequest(
        f"{operation} Probe{_declarations(required)} {{ {name}{_arguments(required)} "
        "{ __typename } }",
        variables,
    )


def _declarations(args: dict[str, GraphQLArgument]) -> str:
    if not args:
        return ""
    return "(" + ", ".join(f"${name}: {arg.type}" for name, arg in args.items()) + ")"


def _arguments(args: dict[str, GraphQLArgument]) -> str:
    if not args:
        return ""
    return "(" + ", ".join(f"{name}: ${name}" for name in args) + ")"


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every tenant table but the records of refusals, in key order."""
    rows = {}
    for model in Tortoise.apps["tenant"].values():
        table = model._meta.db_table
        if model.__module__ != RECORDS_OF_REFUSALS and not model._meta.abstract:
            rows[table] = await model.all().order_by(model._meta.pk_attr).values()
    return rows


async def run(
    tenant: TenantRecord,
    operation: str,
    name: str,
    permissions: list[str],
    merchant_id: int | None = None,
) -> Any:
    engine = GraphQLEngine(SCHEMA, QueryLimits(), introspection=True)
    context = context_for(tenant, user_with(*permissions, merchant_id=merchant_id))
    async with tenant_scope(tenant):
        response = await engine.run(request_for(operation, name), context)
    return response.payload


def test_the_walk_finds_the_declared_fields() -> None:
    assert ("query", "settingsHistory", "settings:history") in FIELDS


@pytest.mark.parametrize(("operation", "name", "permission"), FIELDS, ids=[f[1] for f in FIELDS])
async def test_refused_without_the_permission_and_nothing_changes(
    acme: TenantRecord, operation: str, name: str, permission: str
) -> None:
    others = [p for p in EVERY_PERMISSION if p != permission]
    async with tenant_scope(acme):
        before = await snapshot()
    payload = await run(acme, operation, name, others)
    codes = [error["extensions"]["code"] for error in payload.get("errors", [])]
    assert codes == ["FORBIDDEN"], payload
    assert payload["errors"][0]["path"] == [name]
    async with tenant_scope(acme):
        assert await snapshot() == before
        refusals = await AuditRecord.filter(operation=name, outcome="FORBIDDEN").count()
    assert refusals == (1 if operation == "mutation" else 0)


@pytest.mark.parametrize(("operation", "name", "permission"), FIELDS, ids=[f[1] for f in FIELDS])
async def test_allowed_with_just_the_permission(
    acme: TenantRecord, operation: str, name: str, permission: str
) -> None:
    payload = await run(acme, operation, name, [permission])
    codes = {error["extensions"]["code"] for error in payload.get("errors", [])}
    assert not codes & {"FORBIDDEN", "UNAUTHENTICATED"}, payload


def test_the_walk_finds_the_tenant_wide_fields() -> None:
    assert ("mutation", "merchantOnboardingStandardsUpdate", "merchants:configure") in TENANT_WIDE


@pytest.mark.parametrize(
    ("operation", "name", "permission"), TENANT_WIDE, ids=[f[1] for f in TENANT_WIDE]
)
async def test_a_grant_limited_to_a_merchant_is_not_enough(
    acme: TenantRecord, operation: str, name: str, permission: str
) -> None:
    """What configures the tenant is out of reach of a grant limited to some merchants."""
    async with tenant_scope(acme):
        before = await snapshot()
    payload = await run(acme, operation, name, [permission], merchant_id=5)
    assert [error["extensions"]["code"] for error in payload["errors"]] == ["FORBIDDEN"]
    async with tenant_scope(acme):
        assert await snapshot() == before
