"""Operations: /healthz, /readyz, /metrics, request ids and JSON logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from saas.observability import JsonFormatter
from tenants.migrations import migrate_fleet
from tenants.provisioning import suspend_tenant
from tests.saas.harness import SETTINGS_QUERY, AppStarter, RunningApp
from tests.tracks import PREVIOUS

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def acme(start_app: AppStarter) -> AsyncIterator[RunningApp]:
    async with start_app("sqlite") as running:
        await running.add_tenant("acme", "Acme Ltd")
        yield running


async def scrape(running: RunningApp) -> Samples:
    response = await running.client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_healthz_is_alive(acme: RunningApp) -> None:
    response = await acme.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_readyz_counts_tenants_behind_head(running_app: RunningApp) -> None:
    for slug in ("acme", "globex"):
        await running_app.add_tenant(slug, slug.title())

    async def readyz() -> dict[str, object]:
        response = await running_app.client.get("/readyz")
        assert response.status_code == 200
        return response.json()

    assert await readyz() == {"status": "ready", "tenants_behind_head": 0}
    await migrate_fleet(PREVIOUS, slugs=["acme"])
    assert await readyz() == {"status": "ready", "tenants_behind_head": 1}
    await migrate_fleet("head")
    assert await readyz() == {"status": "ready", "tenants_behind_head": 0}


async def test_metrics_count_operations_errors_and_open_clients(running_app: RunningApp) -> None:
    await running_app.add_tenant("acme", "Acme Ltd")
    before = await scrape(running_app)
    for _ in range(3):
        assert (await running_app.graphql(SETTINGS_QUERY)).status_code == 200
    history = "query History { settingsHistory(first: 1) { pageInfo { hasNextPage } } }"
    assert (await running_app.graphql(history)).status_code == 200
    after = await scrape(running_app)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    operations = "saas_graphql_operations_total"
    executed = {"tenant": "acme", "type": "query", "outcome": "executed"}
    assert delta(operations, operation="Settings", **executed) == 3
    assert delta(operations, operation="History", **executed) == 1
    errors = "saas_graphql_errors_total"
    assert delta(errors, tenant="acme", operation="History", code="UNAUTHENTICATED") == 1
    assert delta(errors, tenant="acme", operation="Settings", code="UNAUTHENTICATED") == 0
    assert value(after, "saas_db_open_tenant_clients") == 1
    await suspend_tenant("acme", actor="test", reason="closing")
    assert value(await scrape(running_app), "saas_db_open_tenant_clients") == 0


async def test_request_errors_are_counted_by_code(acme: RunningApp) -> None:
    labels = {"tenant": "acme", "operation": "Typo", "code": "GRAPHQL_VALIDATION_FAILED"}
    before = value(await scrape(acme), "saas_graphql_errors_total", **labels)
    await acme.graphql("query Typo { tenantSettings { nme } }")
    after = value(await scrape(acme), "saas_graphql_errors_total", **labels)
    assert after - before == 1


@pytest.mark.parametrize("path", ["/t/acme/graphql", "/healthz", "/metrics", "/no-such-route"])
async def test_every_response_has_a_request_id(acme: RunningApp, path: str) -> None:
    first = await acme.client.get(path)
    second = await acme.client.get(path)
    assert GENERATED_ID.fullmatch(first.headers["x-request-id"])
    assert GENERATED_ID.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    echoed = await acme.client.get(path, headers={"x-request-id": "client-req_0001.a"})
    assert echoed.headers["x-request-id"] == "client-req_0001.a"


@pytest.mark.parametrize(
    "client_id", ["short", "has space inside", "a" * 65, "semi;colon-1234", "ünïcode-12345"]
)
async def test_invalid_client_request_id_is_replaced(acme: RunningApp, client_id: str) -> None:
    response = await acme.client.get("/healthz", headers={"x-request-id": client_id.encode()})
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


async def test_json_log_lines_carry_request_id_and_tenant(
    acme: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="saas")
    caplog.handler.setFormatter(JsonFormatter())
    served = await acme.graphql(SETTINGS_QUERY, headers={"x-request-id": "trace-0000-0001"})
    health = await acme.client.get("/healthz")
    lines = [json.loads(line) for line in caplog.text.splitlines()]
    access = [line for line in lines if line["logger"] == "saas.access"]
    assert [
        (line["request_id"], line["tenant"], line["path"], line["status"]) for line in access
    ] == [
        ("trace-0000-0001", "acme", "/t/acme/graphql", 200),
        (health.headers["x-request-id"], None, "/healthz", 200),
    ]
    assert served.headers["x-request-id"] == "trace-0000-0001"
    assert all(line["level"] == "info" and line["msg"] == "request" for line in access)
    assert all(isinstance(line["ms"], float) and line["method"] for line in access)
