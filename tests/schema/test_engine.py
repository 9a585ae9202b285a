"""The GraphQL engine: cached parse and validation, error masking, request outcomes."""

from __future__ import annotations

import logging

import pytest
from graphql import NoSchemaIntrospectionCustomRule

from schema.core.engine import GraphQLEngine, GraphQLRequest, GraphQLResponse, Outcome
from schema.core.limits import QueryLimits
from tests.schema.toy import SECRET, TOY_SCHEMA, ToyContext, toy_engine

CONTEXT = ToyContext(request_id="req-0001")


async def run(engine: GraphQLEngine, query: str, **request: object) -> GraphQLResponse:
    return await engine.run(GraphQLRequest(query=query, **request), CONTEXT)  # type: ignore[arg-type]


async def test_executed_response_reports_its_cost_and_operation() -> None:
    response = await run(toy_engine(), "query Greeting { hello }")
    assert response.outcome is Outcome.EXECUTED
    assert response.payload == {
        "data": {"hello": "world"},
        "extensions": {"cost": {"requested": 0, "maximum": 1000}},
    }
    assert (response.operation_name, response.operation_type) == ("Greeting", "query")
    assert response.error_codes == []


async def test_crash_is_masked_and_logged_in_full(caplog: pytest.LogCaptureFixture) -> None:
    response = await run(toy_engine(), "{ hello boom }")
    assert response.outcome is Outcome.EXECUTED
    assert response.payload["data"] is None
    assert response.payload["errors"] == [
        {
            "message": "Internal server error",
            "locations": [{"line": 1, "column": 9}],
            "path": ["boom"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-0001"},
        }
    ]
    assert SECRET not in str(response.payload)
    assert response.error_codes == ["INTERNAL_SERVER_ERROR"]
    [record] = [r for r in caplog.records if r.name == "saas.graphql"]
    assert (record.levelno, record.getMessage()) == (logging.ERROR, "resolver failed")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert SECRET in str(record.exc_info[1])
    assert record.graphql_path == ["boom"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "message", "code"),
    [
        ("refused", "not for you", "FORBIDDEN"),
        ("outsideTenant", "no tenant selected", "NO_TENANT_SELECTED"),
    ],
)
async def test_expected_errors_keep_message_and_code(
    field: str, message: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await run(toy_engine(), f"{{ {field} }}")
    [error] = response.payload["errors"]
    assert error["message"].startswith(message)
    assert error["extensions"] == {"code": code}
    assert error["path"] == [field]
    assert response.error_codes == [code]
    assert not [r for r in caplog.records if r.name == "saas.graphql"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ hello", "GRAPHQL_PARSE_FAILED"),
        ("{ " + "hello " * 30 + "}", "QUERY_TOO_COMPLEX"),  # over max_tokens
        ("{ helo }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_refused_documents_carry_a_code(query: str, code: str) -> None:
    response = await run(toy_engine(QueryLimits(max_tokens=20)), query)
    assert response.outcome is Outcome.REQUEST_ERROR
    assert "data" not in response.payload
    assert [e["extensions"]["code"] for e in response.payload["errors"]] == [code]
    assert response.error_codes == [code]


async def test_refused_named_document_keeps_its_operation_name() -> None:
    response = await run(toy_engine(), "query Typo { helo }")
    assert response.operation_name == "Typo"


async def test_mutation_is_refused_on_a_read_only_request() -> None:
    engine = toy_engine()
    refused = await run(engine, "mutation Touch { touch }", read_only=True)
    assert refused.outcome is Outcome.METHOD_NOT_ALLOWED
    assert refused.payload == {
        "errors": [
            {"message": "mutations must be sent with POST", "extensions": {"code": "BAD_REQUEST"}}
        ]
    }
    assert (refused.operation_name, refused.operation_type) == ("Touch", "mutation")
    allowed = await run(engine, "mutation Touch { touch }")
    assert allowed.payload["data"] == {"touch": 1}
    query = await run(engine, "{ hello }", read_only=True)
    assert query.payload["data"] == {"hello": "world"}


async def test_same_query_text_is_parsed_and_validated_once() -> None:
    engine = toy_engine()
    query = "query Q { hello }"
    first = engine._prepare(query)
    assert engine._prepare(query) is first
    before = engine._prepare.cache_info()
    await run(engine, query)
    await run(engine, query)
    await run(engine, "query Other { hello }")
    after = engine._prepare.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (2, 1)


async def test_invalid_documents_are_cached_too() -> None:
    engine = toy_engine()
    await run(engine, "{ helo }")
    before = engine._prepare.cache_info().hits
    response = await run(engine, "{ helo }")
    assert response.outcome is Outcome.REQUEST_ERROR
    assert engine._prepare.cache_info().hits == before + 1


async def test_limit_rules_are_built_once_per_engine() -> None:
    engine = toy_engine()
    rules = engine._rules
    names = [rule.__name__ for rule in rules]
    assert names.count("MaxDepthRule") == 1
    assert names.count("MaxAliasesRule") == 1
    await run(engine, "{ hello }")
    await run(engine, "{ a: hello }")
    assert engine._rules is rules
    assert toy_engine()._rules != rules  # each engine builds its own, for its limits


def test_introspection_flag_sets_the_rule_and_suggestions() -> None:
    open_engine = GraphQLEngine(TOY_SCHEMA, QueryLimits(), introspection=True)
    closed_engine = GraphQLEngine(TOY_SCHEMA, QueryLimits(), introspection=False)
    assert NoSchemaIntrospectionCustomRule not in open_engine._rules
    assert NoSchemaIntrospectionCustomRule in closed_engine._rules
    assert (open_engine._hide_suggestions, closed_engine._hide_suggestions) == (False, True)


async def test_production_engine_hides_schema_details() -> None:
    engine = toy_engine(introspection=False)
    introspection = await run(engine, "{ __schema { queryType { name } } }")
    assert introspection.outcome is Outcome.REQUEST_ERROR
    assert "introspection has been disabled" in introspection.payload["errors"][0]["message"]
    typo = await run(engine, "{ helo }")
    assert typo.payload["errors"][0]["message"] == "Cannot query field 'helo' on type 'ToyQuery'."
    typename = await run(engine, "{ __typename }")
    assert typename.payload["data"] == {"__typename": "ToyQuery"}


async def test_variables_are_coerced_once_and_reach_the_resolvers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import graphql.execution.executor
    import graphql.execution.values

    import schema.core.engine

    calls: list[dict[str, object]] = []
    coerce = graphql.execution.values.get_variable_values

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[2])  # type: ignore[arg-type]
        return coerce(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(schema.core.engine, "get_variable_values", counting)
    monkeypatch.setattr(graphql.execution.executor, "get_variable_values", counting)
    query = 'query P($m: Int!, $c: String = "EUR") { price(minor: $m, currency: $c) { amount } }'
    response = await run(toy_engine(), query, variables={"m": 1250})
    assert response.payload["data"] == {"price": {"amount": "12.50"}}
    assert calls == [{"m": 1250}]
    refused = await run(toy_engine(), query, variables={"m": "x"})
    assert refused.outcome is Outcome.REQUEST_ERROR
    assert refused.error_codes == ["BAD_REQUEST"]
