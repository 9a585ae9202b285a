"""GraphQL end to end through the ASGI app: which tenant a request reaches, and the
edge failing closed when the tenant is unknown, suspended or behind the schema head."""

from __future__ import annotations

import asyncio

import pytest

from tenants.migrations import migrate_fleet
from tenants.provisioning import resume_tenant, suspend_tenant
from tests.saas.harness import SETTINGS_QUERY, RunningApp, error_code
from tests.tracks import HEAD, PREVIOUS

TENANTS = {  # slug: (name, currency, custom domain)
    "acme": ("Acme Ltd", "EUR", "shop.acme.example"),
    "globex": ("Globex Corporation", "JPY", "globex.example.org"),
    "initech": ("Initech", "BHD", "initech.example.net"),
}


def urls(slug: str) -> list[str]:
    """The three ways to reach a tenant: subdomain, custom domain, path prefix."""
    return [
        f"http://{slug}.localhost/graphql",
        f"http://{TENANTS[slug][2]}/graphql",
        f"http://localhost/t/{slug}/graphql",
    ]


async def add_tenants(running: RunningApp) -> None:
    for slug, (name, currency, domain) in TENANTS.items():
        await running.add_tenant(slug, name, currency=currency, domains=(domain,))


async def assert_served(running: RunningApp, url: str, slug: str) -> None:
    response = await running.graphql(SETTINGS_QUERY, url=url)
    name, currency, _ = TENANTS[slug]
    assert response.status_code == 200, (url, response.text)
    assert response.json()["data"] == {"tenantSettings": {"name": name, "currency": currency}}


async def test_concurrent_requests_each_see_their_own_tenant(running_app: RunningApp) -> None:
    await add_tenants(running_app)
    requests = [(url, slug) for slug in TENANTS for url in urls(slug)] * 14  # 126 requests
    responses = await asyncio.gather(
        *(running_app.graphql(SETTINGS_QUERY, url=url) for url, _ in requests)
    )
    seen = {
        (url, r.status_code, r.json()["data"]["tenantSettings"]["name"])
        for (url, _), r in zip(requests, responses, strict=True)
    }
    expected = {(url, 200, TENANTS[slug][0]) for slug in TENANTS for url in urls(slug)}
    assert seen == expected
    currencies = {r.json()["data"]["tenantSettings"]["currency"] for r in responses}
    assert currencies == {"EUR", "JPY", "BHD"}


UNKNOWN = [
    "http://nobody.localhost/graphql",
    "http://shop.unknown.example/graphql",
    "http://localhost/graphql",  # no tenant in the host at all
    "http://localhost/t/nobody/graphql",
    "http://localhost/t/a.b/graphql",
    "http://localhost/t/ACME/graphql",
    "http://localhost/t/" + "a" * 300 + "/graphql",
    "http://a.b.localhost/graphql",  # not a single label under the base domain
    "http://[::1]:8000/graphql",
    "http://localhost/t/%2e%2e/graphql",
    "http://localhost/t/a%00b/graphql",
    "http://localhost/t/%20acme/graphql",
]


async def test_unknown_tenant_is_404(running_app: RunningApp) -> None:
    await running_app.add_tenant("acme", "Acme Ltd")
    for url in UNKNOWN:
        response = await running_app.graphql(SETTINGS_QUERY, url=url)
        assert (response.status_code, error_code(response)) == (404, "TENANT_NOT_FOUND"), url
        assert len(response.json()["errors"][0]["message"]) < 200
        await assert_known_tenant_still_served(running_app)


@pytest.mark.parametrize("path", ["/t/..%2F/graphql", "/t/acme%2Fx/graphql", "/t//graphql"])
async def test_slug_with_a_slash_matches_no_route(running_app: RunningApp, path: str) -> None:
    await running_app.add_tenant("acme", "Acme Ltd")
    response = await running_app.client.post(path, json={"query": SETTINGS_QUERY})
    assert (response.status_code, response.text) == (404, "Not Found")
    await assert_known_tenant_still_served(running_app)


@pytest.mark.parametrize("host", ["ACME.localhost", "acme.localhost.", "acme.localhost:8000"])
async def test_host_is_normalized(running_app: RunningApp, host: str) -> None:
    await add_tenants(running_app)
    response = await running_app.graphql(
        SETTINGS_QUERY, url="http://localhost/graphql", headers={"host": host}
    )
    assert response.json()["data"]["tenantSettings"]["name"] == "Acme Ltd"


async def assert_known_tenant_still_served(running: RunningApp) -> None:
    response = await running.graphql(SETTINGS_QUERY, url="http://acme.localhost/graphql")
    assert response.status_code == 200
    assert response.json()["data"]["tenantSettings"]["name"] == "Acme Ltd"


async def test_suspended_tenant_is_403_until_resumed(running_app: RunningApp) -> None:
    await add_tenants(running_app)
    await suspend_tenant("acme", actor="test", reason="unpaid invoice")
    for url in urls("acme"):
        response = await running_app.graphql(SETTINGS_QUERY, url=url)
        assert response.status_code == 403, url
        assert error_code(response) == "TENANT_SUSPENDED"
    await assert_served(running_app, urls("globex")[0], "globex")
    await resume_tenant("acme", actor="test")
    await assert_served(running_app, urls("acme")[1], "acme")


async def test_tenant_behind_head_is_503_until_upgraded(running_app: RunningApp) -> None:
    await add_tenants(running_app)
    report = await migrate_fleet(PREVIOUS, slugs=["globex"])
    assert report.migrated == {"globex": [f"-{HEAD}"]}  # the head revision undone
    response = await running_app.graphql(SETTINGS_QUERY, url=urls("globex")[2])
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert error_code(response) == "TENANT_NOT_READY"
    assert PREVIOUS in response.json()["errors"][0]["message"]
    await assert_served(running_app, urls("initech")[0], "initech")
    await migrate_fleet("head", slugs=["globex"])
    await assert_served(running_app, urls("globex")[2], "globex")
