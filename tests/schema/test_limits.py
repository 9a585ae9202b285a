"""Query limits: depth and aliases as validation rules, and the cost model."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import GraphQLSchema, OperationDefinitionNode, parse, validate

from schema.core.limits import QueryLimits, make_limit_rules, query_cost
from schema.core.nodes import Node
from schema.core.pagination import Connection
from schema.root import build_schema

GRAPHQL_SCHEMA = build_schema()._schema


def limit_errors(query: str, **limits: int) -> list[str]:
    """Messages of the limit rules alone (not the standard rules) on the product schema."""
    rules = make_limit_rules(QueryLimits(**limits))
    return [error.message for error in validate(GRAPHQL_SCHEMA, parse(query), rules)]


def depth_of(query: str) -> int:
    """The depth the rule measures: the lowest max_depth that accepts the query."""
    for depth in range(20):
        if not limit_errors(query, max_depth=depth):
            return depth
    raise AssertionError("deeper than 20")


@pytest.mark.parametrize(
    ("query", "depth"),
    [
        ("{ tenantSettings { name } }", 2),
        ("{ settingsHistory { edges { node { id } } pageInfo { hasNextPage } } }", 4),
        (
            "{ ...Q } fragment Q on Query { settingsHistory { ...C } } "
            "fragment C on SettingsChangeConnection { edges { node { id } } }",
            4,
        ),
        (
            "{ settingsHistory { edges { ... on SettingsChangeEdge { node "
            "{ ... on SettingsChange { id } } } } } }",
            4,
        ),
        ("{ ... { ... { tenantSettings { ... on TenantSettings { name } } } } }", 2),
        ('{ node(id: "x") { ... on SettingsChange { id } } }', 2),
        ("{ __typename tenantSettings { __typename name } }", 2),
        ("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }", 0),
        ('{ __type(name: "Query") { fields { name } } tenantSettings { name } }', 2),
    ],
)
def test_depth_counts_fields_through_fragments_and_skips_introspection(
    query: str, depth: int
) -> None:
    assert depth_of(query) == depth


def test_depth_error_names_depth_and_limit() -> None:
    query = "{ settingsHistory { edges { node { id } } } }"
    assert limit_errors(query, max_depth=3) == ["query depth 4 exceeds the limit of 3"]


def test_depth_is_checked_per_operation() -> None:
    query = "query A { tenantSettings { name } } query B { settingsHistory { edges { cursor } } }"
    assert limit_errors(query, max_depth=2) == ["query depth 3 exceeds the limit of 2"]


def test_fragment_cycle_does_not_recurse_forever() -> None:
    query = (
        "{ ...A } fragment A on Query { tenantSettings { name } ...B } fragment B on Query { ...A }"
    )
    assert depth_of(query) == 2  # the cycle itself is the standard rules' error


@pytest.mark.parametrize(
    ("query", "aliases"),
    [
        ("{ tenantSettings { name } }", 0),
        ("{ a: tenantSettings { n: name } b: tenantSettings { name } }", 3),
        ("{ ...F } fragment F on Query { x: tenantSettings { y: name z: locale } }", 3),
        ("query A { a: tenantSettings { name } } query B { b: tenantSettings { name } }", 2),
    ],
)
def test_aliases_are_counted_over_the_document(query: str, aliases: int) -> None:
    assert limit_errors(query, max_aliases=aliases) == []
    if aliases:
        expected = f"{aliases} aliases exceed the limit of {aliases - 1}"
        assert limit_errors(query, max_aliases=aliases - 1) == [expected]


def test_limit_errors_carry_query_too_complex() -> None:
    rules = make_limit_rules(QueryLimits(max_depth=1, max_aliases=0))
    errors = validate(GRAPHQL_SCHEMA, parse("{ a: tenantSettings { name } }"), rules)
    assert [e.extensions for e in errors] == [{"code": "QUERY_TOO_COMPLEX"}] * 2


# -- cost -------------------------------------------------------------------------------


def cost_of(
    query: str, variables: dict[str, Any] | None = None, schema: GraphQLSchema = GRAPHQL_SCHEMA
) -> int:
    document = parse(query)
    assert not validate(schema, document)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if d not in operations}
    return query_cost(schema, operations[0], fragments, variables)


HISTORY = "edges { node { id field } } pageInfo { hasNextPage }"  # costs 3 per page item


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ tenantSettings { name locale } }", 1),  # an object 1, its scalars 0
        ("{ __typename }", 0),
        ('{ tenantSettings { name } node(id: "x") { id } }', 2),
        (f"{{ settingsHistory(first: 10) {{ {HISTORY} }} }}", 1 + 10 * 3),
        (f"{{ settingsHistory(last: 3) {{ {HISTORY} }} }}", 1 + 3 * 3),
        (f"{{ settingsHistory {{ {HISTORY} }} }}", 1 + 100 * 3),  # no size: the page cap
        (f"{{ settingsHistory(first: 500) {{ {HISTORY} }} }}", 1 + 100 * 3),  # capped
        ("{ settingsHistory(first: 0) { pageInfo { hasNextPage } } }", 1),
        ("{ settingsHistory(first: 5) { nodes { field } } }", 1 + 5 * 1),
        (
            "{ a: settingsHistory(first: 2) { nodes { id } } "
            "b: settingsHistory(first: 4) { nodes { id } } }",
            (1 + 2) + (1 + 4),
        ),
        (
            "{ ...Q } fragment Q on Query { settingsHistory(first: 2) { ...C } } "
            "fragment C on SettingsChangeConnection { edges { node { id } } }",
            1 + 2 * 2,
        ),
    ],
)
def test_cost_model(query: str, cost: int) -> None:
    assert cost_of(query) == cost


@pytest.mark.parametrize(
    ("declaration", "variables", "cost"),
    [
        ("$n: Int", {"n": 7}, 1 + 7),
        ("$n: Int", {}, 1 + 100),  # absent: the page cap
        ("$n: Int", {"n": None}, 1 + 100),
        ("$n: Int", {"n": 1000}, 1 + 100),
        ("$n: Int = 4", {}, 1 + 4),  # the declared default, as execution uses
        ("$n: Int = 4", {"n": 2}, 1 + 2),
    ],
)
def test_cost_uses_variables_for_page_size(
    declaration: str, variables: dict[str, Any], cost: int
) -> None:
    query = f"query H({declaration}) {{ settingsHistory(first: $n) {{ nodes {{ id }} }} }}"
    assert cost_of(query, variables) == cost


# An interface whose implementation has a connection: fragments on it must be costed
# with their type condition, or a connection under an interface would be free.
@strawberry.type
class Item(Node):
    label: str


@strawberry.type
class Shop(Node):
    @strawberry.field
    def items(self, first: int | None = None) -> Connection[Item]:
        raise NotImplementedError


@strawberry.type
class ShopQuery:
    @strawberry.field
    def node(self, id: strawberry.ID) -> Node | None:
        raise NotImplementedError


SHOP_SCHEMA = strawberry.Schema(query=ShopQuery, types=[Shop, Item])._schema
ITEMS = "items(first: 10) { edges { node { label } } }"  # 1 + 10 * 2


@pytest.mark.parametrize(
    "query",
    [
        f'{{ node(id: "s") {{ ... on Shop {{ {ITEMS} }} }} }}',
        f'{{ node(id: "s") {{ ...S }} }} fragment S on Shop {{ {ITEMS} }}',
        f'{{ node(id: "s") {{ id ... on Node {{ ... on Shop {{ {ITEMS} }} }} }} }}',
    ],
)
def test_connection_under_an_interface_is_multiplied(query: str) -> None:
    assert cost_of(query, schema=SHOP_SCHEMA) == 1 + (1 + 10 * 2)
