"""The GraphQL edge's authentication, over HTTP through the real app: a bearer token
verified against the tenant the request reached, rights = the token's scope narrowed to
the user's current roles."""

from __future__ import annotations

import pytest

from schema.access.service import assign_role
from schema.core.principal import system_principal
from schema.identity.models import UserType
from schema.identity.service.accounts import create_user, deactivate
from schema.oauth.tokens import access_claims, sign_access_token
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.saas.harness import RunningApp, error_code

HISTORY = "query { settingsHistory(first: 1) { edges { cursor } } }"
ADMIN = system_principal("test")


async def add_user(
    tenant: TenantRecord,
    email: str,
    role: str | None,
    user_type: UserType = UserType.TENANT_STAFF,
) -> int:
    async with tenant_scope(tenant):
        user = await create_user(email, "Test User", user_type=user_type)
        if role is not None:
            await assign_role(user.id, role)
        return user.id


async def token_for(
    tenant: TenantRecord, *, user_id: int | None, scope: str, client_id: str = "app"
) -> str:
    async with tenant_scope(tenant):
        claims = access_claims(tenant, client_id=client_id, user_id=user_id, scope=scope)
        return await sign_access_token(claims)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def history(running: RunningApp, token: str | None, slug: str = "acme") -> tuple[int, str]:
    headers = bearer(token) if token else None
    response = await running.graphql(HISTORY, url=f"/t/{slug}/graphql", headers=headers)
    body = response.json()
    return response.status_code, error_code(response) if body.get("errors") else "OK"


async def test_rights_are_the_scope_narrowed_to_the_roles(running_app: RunningApp) -> None:
    acme = await running_app.add_tenant("acme", "Acme Ltd")
    owner = await add_user(acme, "owner@acme.example.com", "owner")
    nobody = await add_user(acme, "nobody@acme.example.com", None)
    assert await history(running_app, None) == (200, "UNAUTHENTICATED")
    full = await token_for(acme, user_id=owner, scope="settings:*")
    assert await history(running_app, full) == (200, "OK")
    narrow = await token_for(acme, user_id=owner, scope="users:read")
    assert await history(running_app, narrow) == (200, "FORBIDDEN")
    no_roles = await token_for(acme, user_id=nobody, scope="*")
    assert await history(running_app, no_roles) == (200, "FORBIDDEN")


async def test_a_client_acting_as_itself_has_what_its_scope_names(
    running_app: RunningApp,
) -> None:
    acme = await running_app.add_tenant("acme", "Acme Ltd")
    allowed = await token_for(acme, user_id=None, scope="settings:history", client_id="erp")
    assert await history(running_app, allowed) == (200, "OK")
    other = await token_for(acme, user_id=None, scope="users:read", client_id="erp")
    assert await history(running_app, other) == (200, "FORBIDDEN")


async def test_another_tenants_token_is_refused(running_app: RunningApp) -> None:
    acme = await running_app.add_tenant("acme", "Acme Ltd")
    globex = await running_app.add_tenant("globex", "Globex")
    await add_user(acme, "owner@acme.example.com", "owner")
    globex_owner = await add_user(globex, "owner@globex.example.com", "owner")
    token = await token_for(globex, user_id=globex_owner, scope="*")
    assert await history(running_app, token, "globex") == (200, "OK")
    response = await running_app.graphql(HISTORY, headers=bearer(token))
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"] == 'Bearer realm="acme", error="invalid_token"'


@pytest.mark.parametrize(
    ("authorization", "error"),
    [("Basic dXNlcjpwdw==", "invalid_request"), ("Bearer", "invalid_request"),
     ("Bearer not-a-jwt", "invalid_token")],
)  # fmt: skip
async def test_malformed_credentials_are_401(
    running_app: RunningApp, authorization: str, error: str
) -> None:
    await running_app.add_tenant("acme", "Acme Ltd")
    response = await running_app.graphql(HISTORY, headers={"authorization": authorization})
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"] == f'Bearer realm="acme", error="{error}"'


async def test_a_deactivated_users_token_stops_working(running_app: RunningApp) -> None:
    acme = await running_app.add_tenant("acme", "Acme Ltd")
    owner = await add_user(acme, "owner@acme.example.com", "owner")
    other_owner = await add_user(acme, "second@acme.example.com", "owner")
    token = await token_for(acme, user_id=other_owner, scope="*")
    assert await history(running_app, token) == (200, "OK")
    async with tenant_scope(acme):
        await deactivate(other_owner, "left the company", actor=ADMIN)
    assert (await history(running_app, token))[0] == 401
    assert await history(running_app, await token_for(acme, user_id=owner, scope="*")) == (
        200,
        "OK",
    )
