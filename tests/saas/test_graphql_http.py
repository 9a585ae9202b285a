"""GraphQL over HTTP (the GraphQL-over-HTTP spec) at the edge of the real app.

Request parsing and content negotiation do not touch the database, so these run on
SQLite only; tenant routing runs on both backends in ``test_tenant_routing.py``. After
every refused request the same app must still serve a good one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from saas.graphql_http import GraphQLHTTP, client_address
from saas.middleware import RequestContextMiddleware
from saas.observability import JsonFormatter
from tenants.provisioning import create_tenant
from tenants.resolver import TenantResolver
from tenants.runtime import Tenancy
from tests.saas.harness import GRAPHQL_RESPONSE, SETTINGS_QUERY, AppStarter, RunningApp, error_code
from tests.schema.toy import SECRET, toy_engine

JSON = "application/json"
MAX_BODY = 2048
LIMITS = {  # low limits, so that a small query can exceed each
    "SAAS_MAX_BODY_BYTES": str(MAX_BODY),
    "SAAS_GRAPHQL_MAX_COST": "50",
    "SAAS_GRAPHQL_MAX_DEPTH": "3",
    "SAAS_GRAPHQL_MAX_ALIASES": "3",
    "SAAS_GRAPHQL_MAX_TOKENS": "60",
}
ACME = {"tenantSettings": {"name": "Acme Ltd", "currency": "USD"}}


@pytest.fixture
async def acme(start_app: AppStarter) -> AsyncIterator[RunningApp]:
    """SQLite, low limits, one tenant ``acme``."""
    async with start_app("sqlite", **LIMITS) as running:
        await running.add_tenant("acme", "Acme Ltd")
        yield running


async def assert_still_serving(running: RunningApp) -> None:
    response = await running.graphql(SETTINGS_QUERY)
    assert response.status_code == 200
    assert response.json()["data"] == ACME


async def post_raw(
    running: RunningApp,
    content: bytes,
    *,
    content_type: str | None = JSON,
    accept: str | None = GRAPHQL_RESPONSE,
) -> httpx.Response:
    """POST exact bytes with exactly these headers (httpx adds ``Accept: */*`` otherwise)."""
    request = running.client.build_request("POST", "/t/acme/graphql", content=content)
    for name, value in (("content-type", content_type), ("accept", accept)):
        if value is None:
            request.headers.pop(name, None)
        else:
            request.headers[name] = value
    return await running.client.send(request)


# -- the happy paths -------------------------------------------------------------------


async def test_post_json_runs_the_query(acme: RunningApp) -> None:
    response = await acme.graphql(SETTINGS_QUERY)
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json() == {
        "data": ACME,
        "extensions": {"cost": {"requested": 1, "maximum": 50}},
    }


async def test_get_runs_a_query_from_the_query_string(acme: RunningApp) -> None:
    params = {
        "query": "query A { tenantSettings { name } } "
        "query B($all: Boolean!) { s: tenantSettings { currency name @include(if: $all) } }",
        "operationName": "B",
        "variables": json.dumps({"all": False}),
    }
    response = await acme.client.get(
        "/t/acme/graphql", params=params, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"s": {"currency": "USD"}}


async def test_get_with_a_mutation_document_is_refused_by_validation(acme: RunningApp) -> None:
    """An invalid mutation document is refused by validation before the method check
    (405 for valid mutations over GET: see the toy-schema test below)."""
    params = {"query": "mutation { tenantSettings { name } }"}
    for accept, status in ((GRAPHQL_RESPONSE, 400), (JSON, 200)):
        response = await acme.client.get(
            "/t/acme/graphql", params=params, headers={"accept": accept}
        )
        assert response.status_code == status
        assert response.json()["errors"][0]["message"] == (
            "Cannot query field 'tenantSettings' on type 'Mutation'."
        )
        assert error_code(response) == "GRAPHQL_VALIDATION_FAILED"
    await assert_still_serving(acme)


# -- content negotiation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "status", "media_type"),
    [
        (GRAPHQL_RESPONSE, 400, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};charset=utf-8, {JSON};q=0.9", 400, GRAPHQL_RESPONSE),
        (JSON, 200, JSON),
        ("*/*", 200, JSON),
        ("application/*", 200, JSON),
        (None, 200, JSON),
    ],
)
async def test_validation_error_status_follows_the_accepted_media_type(
    acme: RunningApp, accept: str | None, status: int, media_type: str
) -> None:
    body = orjson.dumps({"query": "{ tenantSettings { nme } }"})
    response = await post_raw(acme, body, accept=accept)
    assert response.status_code == status
    assert response.headers["content-type"] == media_type
    assert response.json() == {
        "errors": [
            {
                "message": "Cannot query field 'nme' on type 'TenantSettings'. "
                "Did you mean 'name'?",
                "locations": [{"line": 1, "column": 20}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ]
    }
    assert "data" not in response.json()


@pytest.mark.parametrize(
    "accept",
    ["text/csv", "text/html", "application/xml", f"{JSON};q=0, {GRAPHQL_RESPONSE};q=0"],
)
async def test_unacceptable_accept_is_406(acme: RunningApp, accept: str) -> None:
    response = await post_raw(acme, orjson.dumps({"query": SETTINGS_QUERY}), accept=accept)
    assert response.status_code == 406
    assert error_code(response) == "BAD_REQUEST"
    await assert_still_serving(acme)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/graphql",
        "application/x-www-form-urlencoded",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
        None,
    ],
)
async def test_other_content_types_are_415(acme: RunningApp, content_type: str | None) -> None:
    response = await post_raw(
        acme, orjson.dumps({"query": SETTINGS_QUERY}), content_type=content_type
    )
    assert response.status_code == 415
    assert error_code(response) == "BAD_REQUEST"
    await assert_still_serving(acme)


async def test_content_type_parameters_are_accepted(acme: RunningApp) -> None:
    body = orjson.dumps({"query": SETTINGS_QUERY})
    response = await post_raw(acme, body, content_type="Application/JSON; charset=utf-8")
    assert response.status_code == 200
    assert response.json()["data"] == ACME


# -- malformed requests -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"query": ', "the body is not valid JSON"),
        (b"\xff\xfe", "the body is not valid JSON"),
        (b"", "the body is not valid JSON"),
        (b'["{ tenantSettings { name } }"]', "the body must be a JSON object"),
        (b'"{ tenantSettings { name } }"', "the body must be a JSON object"),
        (b"{}", "the request has no query string"),
        (b'{"query": 42}', "the request has no query string"),
        (b'{"query": "   "}', "the request has no query string"),
        (b'{"query": "{ __typename }", "variables": [1]}', "variables must be a JSON object"),
        (b'{"query": "{ __typename }", "variables": "{}"}', "variables must be a JSON object"),
        (b'{"query": "{ __typename }", "operationName": 7}', "operationName must be a string"),
        (b'{"query": "{ __typename }", "extensions": "x"}', "extensions must be a JSON object"),
        (b'{"query": "{ __typename }", "extensions": [1]}', "extensions must be a JSON object"),
    ],
)
async def test_malformed_body_is_400(acme: RunningApp, body: bytes, message: str) -> None:
    for accept in (GRAPHQL_RESPONSE, JSON):
        response = await post_raw(acme, body, accept=accept)
        assert response.status_code == 400
        assert response.json() == {
            "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
        }
    await assert_still_serving(acme)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "the request has no query string"),
        ({"query": SETTINGS_QUERY, "variables": "{nope"}, "variables is not valid JSON"),
        ({"query": SETTINGS_QUERY, "variables": "[]"}, "variables must be a JSON object"),
        ({"query": SETTINGS_QUERY, "extensions": "{nope"}, "extensions is not valid JSON"),
        ({"query": SETTINGS_QUERY, "extensions": "1"}, "extensions must be a JSON object"),
    ],
)
async def test_malformed_get_is_400(acme: RunningApp, params: dict[str, str], message: str) -> None:
    response = await acme.client.get(
        "/t/acme/graphql", params=params, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == message
    assert error_code(response) == "BAD_REQUEST"
    await assert_still_serving(acme)


async def test_declared_oversized_body_is_413(acme: RunningApp) -> None:
    padding = " " * MAX_BODY
    response = await post_raw(acme, orjson.dumps({"query": SETTINGS_QUERY + padding}))
    assert response.status_code == 413
    assert error_code(response) == "BAD_REQUEST"
    await assert_still_serving(acme)


async def test_streamed_oversized_body_is_413(acme: RunningApp) -> None:
    """No Content-Length (chunked): the limit holds while reading."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "pad": "'
        for _ in range(MAX_BODY // 256 + 1):
            yield b"x" * 256
        yield b'"}'

    response = await acme.client.post(
        "/t/acme/graphql",
        content=chunks(),
        headers={"content-type": JSON, "accept": GRAPHQL_RESPONSE},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    await assert_still_serving(acme)


async def test_body_at_the_limit_is_served(acme: RunningApp) -> None:
    body = orjson.dumps({"query": SETTINGS_QUERY})
    body = body[:-1] + b', "pad": "' + b"x" * (MAX_BODY - len(body) - 11) + b'"}'
    assert len(body) == MAX_BODY
    response = await post_raw(acme, body)
    assert response.status_code == 200
    assert response.json()["data"] == ACME


# -- GraphQL request errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ settingsHistory { edges { node { id } } } }", "query depth 4 exceeds the limit of 3"),
        (
            "{ a: tenantSettings { b: name c: locale } d: tenantSettings { name } }",
            "4 aliases exceed the limit of 3",
        ),
        (
            "{ " + "tenantSettings { name } " * 15 + "}",
            "Syntax Error: Document contains more than 60 tokens. Parsing aborted.",
        ),
    ],
)
async def test_too_complex_query_is_refused(acme: RunningApp, query: str, message: str) -> None:
    response = await acme.graphql(query)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["message"] == message
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    await assert_still_serving(acme)


async def test_too_costly_query_is_refused_with_its_cost(acme: RunningApp) -> None:
    query = "query H($n: Int) { settingsHistory(first: $n) { pageInfo { hasNextPage } } }"
    response = await acme.graphql(query, variables={"n": 100})
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "query cost 101 exceeds the limit of 50",
                "extensions": {"code": "QUERY_TOO_COMPLEX"},
            }
        ],
        "extensions": {"cost": {"requested": 101, "maximum": 50}},
    }
    cheap = await acme.graphql(query, variables={"n": 10})
    assert cheap.status_code == 200  # executed: refused by the field's permission instead
    assert cheap.json()["extensions"] == {"cost": {"requested": 11, "maximum": 50}}
    assert error_code(cheap) == "UNAUTHENTICATED"  # no token


async def test_connection_without_a_page_size_costs_the_page_cap(acme: RunningApp) -> None:
    """A field without arguments once crashed the cost walker (HTTP 500)."""
    response = await acme.graphql("{ settingsHistory { pageInfo { hasNextPage } } }")
    assert response.status_code == 400
    assert response.json()["extensions"] == {"cost": {"requested": 101, "maximum": 50}}
    assert error_code(response) == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"n": "ten"}, "Int cannot represent non-integer value: 'ten'"),
        ({}, "Expected a value of non-null type 'Int!' to be provided."),
        ({"n": None}, "Expected value of non-null type 'Int!' not to be None."),
    ],
)
async def test_variable_coercion_error_is_400(
    acme: RunningApp, variables: dict[str, object], message: str
) -> None:
    query = "query H($n: Int!) { settingsHistory(first: $n) { pageInfo { hasNextPage } } }"
    response = await acme.graphql(query, variables=variables)
    assert response.status_code == 400
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["errors"][0]["message"] == f"Variable '$n' has invalid value: {message}"
    assert error_code(response) == "BAD_REQUEST"
    assert "data" not in response.json()
    await assert_still_serving(acme)


@pytest.mark.parametrize(
    ("operation_name", "message"),
    [
        ("Nope", "no operation named 'Nope'"),
        (None, "the document has several operations: pass operationName"),
    ],
)
async def test_operation_selection_errors_are_400(
    acme: RunningApp, operation_name: str | None, message: str
) -> None:
    query = "query A { tenantSettings { name } } query B { tenantSettings { locale } }"
    response = await acme.graphql(query, operation_name=operation_name)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }
    await assert_still_serving(acme)


async def test_syntax_error_is_400_parse_failed(acme: RunningApp) -> None:
    response = await acme.graphql("{ tenantSettings { name }")
    assert response.status_code == 400
    assert error_code(response) == "GRAPHQL_PARSE_FAILED"
    await assert_still_serving(acme)


# -- development and production ---------------------------------------------------------

INTROSPECTION = "{ __schema { types { name } } }"
TYPO = "{ tenantSettings { nme } }"


async def test_development_serves_introspection_suggestions_and_graphiql(
    acme: RunningApp,
) -> None:
    introspection = await acme.graphql(INTROSPECTION)
    assert introspection.status_code == 200
    names = {t["name"] for t in introspection.json()["data"]["__schema"]["types"]}
    assert {"Query", "TenantSettings", "SettingsChange"} <= names
    typo = await acme.graphql(TYPO)
    assert typo.json()["errors"][0]["message"].endswith("Did you mean 'name'?")
    page = await acme.client.get("/t/acme/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "graphiql" in page.text.lower()


async def test_production_refuses_introspection_suggestions_and_graphiql(
    start_app: AppStarter,
) -> None:
    async with start_app("sqlite", SAAS_ENV="production") as running:
        await running.add_tenant("acme", "Acme Ltd")
        introspection = await running.graphql(INTROSPECTION)
        assert introspection.status_code == 400
        assert error_code(introspection) == "GRAPHQL_VALIDATION_FAILED"
        assert "introspection has been disabled" in introspection.json()["errors"][0]["message"]
        typo = await running.graphql(TYPO)
        assert typo.json()["errors"][0]["message"] == (
            "Cannot query field 'nme' on type 'TenantSettings'."
        )
        page = await running.client.get("/t/acme/graphql", headers={"accept": "text/html"})
        assert page.status_code == 406
        assert page.headers["content-type"] == JSON
        assert "<html" not in page.text.lower()
        await assert_still_serving(running)


# -- masking and the method check, on a toy schema behind the real edge ------------------


def toy_app(tenancy: Tenancy) -> Starlette:
    """The production edge (GraphQLHTTP, request-id middleware) around the toy engine."""
    edge = GraphQLHTTP(
        toy_engine(),
        TenantResolver(tenancy.registry, "localhost"),
        max_body_bytes=MAX_BODY,
        graphiql=False,
    )
    route = Route("/t/{slug}/graphql", edge, methods=["GET", "POST"])
    return Starlette(routes=[route], middleware=[Middleware(RequestContextMiddleware)])


@pytest.fixture
async def toy_client(tenancy: Tenancy) -> AsyncIterator[httpx.AsyncClient]:
    await create_tenant("acme", "Acme Ltd", actor="test")
    transport = httpx.ASGITransport(app=toy_app(tenancy))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


async def test_crash_is_masked_and_logged_with_the_request_id(
    toy_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="saas")
    caplog.handler.setFormatter(JsonFormatter())
    response = await toy_client.post(
        "/t/acme/graphql", json={"query": "{ hello boom }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    request_id = response.headers["x-request-id"]
    assert response.status_code == 200
    assert response.json()["data"] is None  # boom is non-null: the error nulls the root
    assert response.json()["errors"] == [
        {
            "message": "Internal server error",
            "locations": [{"line": 1, "column": 9}],
            "path": ["boom"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        }
    ]
    assert SECRET not in response.text
    lines = [json.loads(line) for line in caplog.text.splitlines() if line.startswith("{")]
    failure = next(line for line in lines if line["msg"] == "resolver failed")
    assert failure["request_id"] == request_id
    assert failure["tenant"] == "acme"
    assert failure["level"] == "error"
    assert SECRET in failure["exc"]  # the full error is in the log, for support


async def test_mutation_over_get_is_405_with_allow_post(toy_client: httpx.AsyncClient) -> None:
    for accept in (GRAPHQL_RESPONSE, JSON):
        response = await toy_client.get(
            "/t/acme/graphql", params={"query": "mutation { touch }"}, headers={"accept": accept}
        )
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert error_code(response) == "BAD_REQUEST"
    posted = await toy_client.post(
        "/t/acme/graphql", json={"query": "mutation { touch }"}, headers={"accept": JSON}
    )
    assert posted.json()["data"] == {"touch": 1}


@pytest.mark.parametrize(
    ("client", "address"),
    [
        (("203.0.113.9", 50000), "203.0.113.9"),
        (("2001:db8::1", 50000), "2001:db8::1"),
        (("testclient", 50000), None),  # not an address: never stored as one
        (("x" * 500, 1), None),
        (None, None),
    ],
)
def test_the_client_address_is_an_ip_address_or_none(
    client: tuple[str, int] | None, address: str | None
) -> None:
    assert client_address({"type": "http", "client": client}) == address
