"""Deny by default: every root field declares its permission or is explicitly public."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission

from schema.core.permissions import declared_permission, public, requires
from schema.root import build_schema


def root_permission_classes(schema: strawberry.Schema) -> dict[str, list[type[BasePermission]]]:
    """``Type.field`` -> its permission classes, for every field of the query and mutation
    roots (also walked for the operator's schema, ``tests/schema/operator``)."""
    roots = (schema._schema.query_type, schema._schema.mutation_type)
    found: dict[str, list[type[BasePermission]]] = {}
    for root in filter(None, roots):
        definition = schema.get_type_by_name(root.name)
        assert definition is not None
        for field in definition.fields:
            name = schema.config.name_converter.get_graphql_name(field)
            found[f"{root.name}.{name}"] = list(field.permission_classes)
    return found


def root_declarations(schema: strawberry.Schema) -> dict[str, str | None]:
    """``Type.field`` -> what it declares, for every field of the query and mutation roots."""
    return {
        name: declared_permission(classes)
        for name, classes in root_permission_classes(schema).items()
    }


def test_every_root_field_declares_its_permission() -> None:
    declarations = root_declarations(build_schema())
    undeclared = sorted(name for name, declared in declarations.items() if declared is None)
    assert not undeclared, (
        f"root fields without a permission: {undeclared}; add "
        "permission_classes=[requires('resource:verb')] or [public] to each"
    )
    assert {"Query.node", "Query.tenantSettings", "Query.settingsHistory"} <= set(declarations)


def test_current_declarations() -> None:
    declarations = root_declarations(build_schema())
    assert declarations["Query.tenantSettings"] == "public"
    assert declarations["Query.node"] == "public"  # each node type checks its own permission
    assert declarations["Query.settingsHistory"] == "settings:history"


class Anyone(BasePermission):
    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return True


@strawberry.type
class CarelessQuery:
    @strawberry.field(permission_classes=[public])
    def fine(self) -> int:
        return 1

    @strawberry.field
    def forgotten(self) -> int:
        return 2


@strawberry.type
class CarelessMutation:
    @strawberry.mutation(permission_classes=[Anyone])
    def order_cancel(self) -> int:
        return 3

    @strawberry.mutation(permission_classes=[requires("orders:refund")])
    def order_refund(self) -> int:
        return 4


def test_the_walk_finds_undeclared_queries_and_mutations() -> None:
    schema = strawberry.Schema(query=CarelessQuery, mutation=CarelessMutation)
    assert root_declarations(schema) == {
        "CarelessQuery.fine": "public",
        "CarelessQuery.forgotten": None,
        "CarelessMutation.orderCancel": None,  # a permission class that declares nothing
        "CarelessMutation.orderRefund": "orders:refund",
    }


def test_declared_permission() -> None:
    assert declared_permission([]) is None
    assert declared_permission([public]) == "public"
    assert declared_permission([requires("a:b")]) == "a:b"
    assert declared_permission([Anyone, requires("a:b")]) == "a:b"
    assert declared_permission([Anyone]) is None
