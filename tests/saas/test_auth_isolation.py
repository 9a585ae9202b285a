"""Tenant isolation with identities: concurrent authenticated mutations of alternating
tenants over HTTP, each also tried with the other tenants' tokens, then an out-of-band
audit (raw SQL on each tenant's own schema or file) of what landed where: every role and
every audit record in its own tenant, made by that tenant's user, and nothing from a
refused token anywhere."""

from __future__ import annotations

import asyncio
import itertools

from tenants.records import TenantRecord
from tests.saas.harness import RunningApp
from tests.saas.test_auth import add_user, bearer, token_for
from tests.tenants.helpers import RawSql

SLUGS = ("acme", "globex", "initech")
ROUNDS = 12  # per tenant
SCOPE = "roles:* tasks:read"  # creating a role needs what it grants
CREATE = """mutation Create($input: RoleCreateInput!) {
  roleCreate(input: $input) { role { key } errors { code } }
}"""


async def create_role(running: RunningApp, slug: str, token: str, key: str) -> object:
    """The HTTP status, or the payload's error codes when the request was served."""
    response = await running.graphql(
        CREATE,
        url=f"/t/{slug}/graphql",
        variables={"input": {"key": key, "name": key, "permissions": ["tasks:read"]}},
        headers=bearer(token),
    )
    if response.status_code != 200:
        return response.status_code
    return [error["code"] for error in response.json()["data"]["roleCreate"]["errors"]]


async def test_concurrent_authenticated_requests_land_in_their_own_tenant(
    running_app: RunningApp,
) -> None:
    tenants: dict[str, TenantRecord] = {}
    tokens: dict[str, str] = {}
    owners: dict[str, int] = {}
    for slug in SLUGS:
        tenants[slug] = await running_app.add_tenant(slug, slug.title())
        owners[slug] = await add_user(tenants[slug], f"owner@{slug}.example.com", "owner")
        tokens[slug] = await token_for(tenants[slug], user_id=owners[slug], scope=SCOPE)

    calls = []
    for n, slug in itertools.product(range(ROUNDS), SLUGS):
        calls.append(create_role(running_app, slug, tokens[slug], f"{slug}_{n}"))
        for other in SLUGS:
            if other != slug:  # another tenant's token on this tenant's endpoint
                calls.append(create_role(running_app, slug, tokens[other], f"stolen_{n}"))
    statuses = await asyncio.gather(*calls)
    assert statuses.count([]) == ROUNDS * len(SLUGS)
    assert statuses.count(401) == ROUNDS * len(SLUGS) * (len(SLUGS) - 1)

    for slug, tenant in tenants.items():
        raw = RawSql(running_app.tenancy, tenant.schema_name)
        keys = {key for (key,) in await raw.fetch("SELECT key FROM access_role WHERE NOT template")}
        assert keys == {f"{slug}_{n}" for n in range(ROUNDS)}
        records = await raw.fetch(
            "SELECT actor_subject, tenant_id FROM audit_record WHERE operation = 'roleCreate'"
        )
        assert sorted(records) == [(f"user:{owners[slug]}", tenant.id)] * ROUNDS
