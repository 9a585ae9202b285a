"""Metadata, JWKS, revocation and introspection over HTTP; the tenant edge (unknown,
suspended, host-based, issuer independent of the Host header); key rotation as a
resource server sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from authlib.oauth2 import rfc8414, rfc9207

from schema.access.catalog import PERMISSIONS
from schema.oauth import keys
from schema.oauth.models import SigningKey, TokenFamily
from schema.oauth.tokens import access_claims, sign_access_token
from tenants.provisioning import suspend_tenant
from tenants.scope import tenant_scope
from tests.saas.harness import AppStarter
from tests.saas.oauth.conftest import (
    World,
    error_of,
    get_code,
    introspect,
    redeem,
    sid_of,
    token_request,
)
from tests.schema.oauth.forge import parts

ISSUER = "http://localhost:8000/t/acme"

METADATA_URLS = [
    "http://localhost/t/acme/.well-known/oauth-authorization-server",
    "http://localhost/t/acme/.well-known/openid-configuration",
    "http://localhost/.well-known/oauth-authorization-server/t/acme",  # RFC 8414 section 3.1
    "http://acme.localhost/.well-known/oauth-authorization-server",
    "http://acme.localhost:8000/.well-known/openid-configuration",
]


@pytest.mark.parametrize("url", METADATA_URLS)
async def test_metadata_names_the_tenants_issuer_and_endpoints(world: World, url: str) -> None:
    response = await world.client.get(url, headers={"x-forwarded-host": "evil.example"})
    assert response.status_code == 200
    document = response.json()
    rfc8414.AuthorizationServerMetadata(document).validate(
        metadata_classes=[rfc9207.AuthorizationServerMetadata]
    )
    assert document == {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/oauth/authorize",
        "token_endpoint": f"{ISSUER}/oauth/token",
        "jwks_uri": f"{ISSUER}/oauth/jwks.json",
        "revocation_endpoint": f"{ISSUER}/oauth/revoke",
        "introspection_endpoint": f"{ISSUER}/oauth/introspect",
        "scopes_supported": [*sorted(PERMISSIONS), "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }


async def test_the_issuer_follows_the_public_url_setting(start_app: AppStarter) -> None:
    async with start_app("sqlite", SAAS_PUBLIC_URL="https://id.example.com/") as running:
        await running.add_tenant("acme", "Acme Ltd")
        response = await running.client.get(
            "http://acme.localhost/.well-known/oauth-authorization-server"
        )
    assert response.json()["issuer"] == "https://id.example.com/t/acme"
    assert response.json()["token_endpoint"] == "https://id.example.com/t/acme/oauth/token"


async def test_jwks_publishes_the_public_keys_only(world: World) -> None:
    response = await world.client.get(world.url("/oauth/jwks.json"))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=3600"
    async with tenant_scope(world.tenant):
        [key] = await SigningKey.all()
    assert response.json() == {"keys": [key.public_jwk]}
    assert set(key.public_jwk) == {"kty", "n", "e", "kid", "use", "alg"}


async def test_each_tenant_has_its_own_keys(world: World) -> None:
    await world.running.add_tenant("globex", "Globex")
    acme = (await world.client.get(world.url("/oauth/jwks.json"))).json()
    globex = (await world.client.get("http://localhost/t/globex/oauth/jwks.json")).json()
    assert {k["kid"] for k in acme["keys"]}.isdisjoint({k["kid"] for k in globex["keys"]})


@pytest.mark.parametrize(
    "path",
    [
        "/oauth/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ],
)
async def test_unknown_and_suspended_tenants_are_refused(world: World, path: str) -> None:
    unknown = await world.client.get(f"http://localhost/t/nobody{path}")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "tenant_not_found"
    await suspend_tenant("acme", actor="test", reason="unpaid")
    suspended = await world.client.get(world.url(path))
    assert suspended.status_code == 403
    assert suspended.json()["error"] == "tenant_suspended"


async def test_a_suspended_tenant_issues_no_tokens(world: World) -> None:
    await suspend_tenant("acme", actor="test", reason="unpaid")
    response = await token_request(world, world.service, grant_type="client_credentials")
    assert response.status_code == 403
    assert response.json()["error"] == "tenant_suspended"


async def test_token_endpoint_reached_by_the_tenants_host(world: World) -> None:
    service = world.service
    response = await world.client.post(
        "http://acme.localhost/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.secret or ""),
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert parts(response.json()["access_token"])[1]["iss"] == ISSUER


async def test_the_token_endpoint_takes_form_posts_only(world: World) -> None:
    response = await world.client.post(
        world.url("/oauth/token"), json={"grant_type": "client_credentials"}
    )
    assert error_of(response) == "invalid_request"
    assert (await world.client.get(world.url("/oauth/token"))).status_code == 405


# --- introspection ---------------------------------------------------------------------


async def test_introspection_describes_an_active_access_token(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    claims = parts(issued["access_token"])[1]
    assert await introspect(world, issued["access_token"]) == {
        "active": True,
        "token_type": "Bearer",
        "client_id": world.mobile.client_id,
        "iss": ISSUER,
        "aud": f"{ISSUER}/graphql",
        "sub": str(world.user_id),
        "scope": "offline_access orders:read",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "jti": claims["jti"],
        "tenant": world.tenant.id,
        "sid": claims["sid"],
    }
    refresh = await introspect(world, issued["refresh_token"])
    assert refresh["active"] is True
    assert (refresh["token_type"], refresh["sid"]) == ("refresh_token", claims["sid"])
    assert refresh["scope"] == "orders:read offline_access"


async def test_introspection_needs_a_confidential_client(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    public = await world.client.post(
        world.url("/oauth/introspect"),
        data={"token": issued["access_token"], "client_id": world.mobile.client_id},
    )
    assert error_of(public) == "invalid_client"
    anonymous = await world.client.post(
        world.url("/oauth/introspect"), data={"token": issued["access_token"]}
    )
    assert error_of(anonymous) == "invalid_client"


async def test_introspection_answers_inactive_for_what_is_not_this_tenants(world: World) -> None:
    globex = await world.running.add_tenant("globex", "Globex")
    async with tenant_scope(globex):
        foreign = await sign_access_token(
            access_claims(globex, client_id=world.partner.client_id, user_id=1, scope="")
        )
    assert await introspect(world, foreign) == {"active": False}
    assert await introspect(world, "not-a-token") == {"active": False}
    assert await introspect(world, "a.b.c") == {"active": False}


async def test_introspection_reports_an_expired_or_revoked_family_inactive(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    async with tenant_scope(world.tenant):
        await TokenFamily.filter(sid=sid_of(issued["access_token"])).update(
            revoked_at=datetime.now(UTC)
        )
    assert await introspect(world, issued["access_token"]) == {"active": False}
    assert await introspect(world, issued["refresh_token"]) == {"active": False}


# --- revocation ------------------------------------------------------------------------


async def revoke(world: World, token: str, hint: str | None = None) -> int:
    data = {"token": token, "client_id": world.mobile.client_id}
    if hint:
        data["token_type_hint"] = hint
    response = await world.client.post(world.url("/oauth/revoke"), data=data)
    return response.status_code


async def test_revoking_a_refresh_token_ends_its_family(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    assert await revoke(world, issued["refresh_token"], "refresh_token") == 200
    assert await introspect(world, issued["refresh_token"]) == {"active": False}
    assert await introspect(world, issued["access_token"]) == {"active": False}
    response = await token_request(
        world, world.mobile, grant_type="refresh_token", refresh_token=issued["refresh_token"]
    )
    assert error_of(response) == "invalid_grant"


async def test_revoking_an_access_token_ends_it_alone(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    assert await revoke(world, issued["access_token"], "refresh_token") == 200  # a hint only
    assert await introspect(world, issued["access_token"]) == {"active": False}
    assert (await introspect(world, issued["refresh_token"]))["active"] is True


async def test_revoking_an_unknown_token_is_fine_and_another_clients_is_refused(
    world: World,
) -> None:
    assert await revoke(world, "never-issued") == 200
    code, verifier = await get_code(world, world.partner)
    issued = (await redeem(world, world.partner, code, verifier)).json()
    assert await revoke(world, issued["access_token"]) == 400
    assert (await introspect(world, issued["access_token"]))["active"] is True
    bad_hint = await world.client.post(
        world.url("/oauth/revoke"),
        data={"token": "x", "token_type_hint": "id_token", "client_id": world.mobile.client_id},
    )
    assert error_of(bad_hint) == "unsupported_token_type"


# --- keys, as a resource server sees them ------------------------------------------------


async def test_key_rotation_publishes_before_use_and_keeps_the_old_key_until_expiry(
    world: World,
) -> None:
    async def jwks() -> list[str]:
        response = await world.client.get(world.url("/oauth/jwks.json"))
        return [k["kid"] for k in response.json()["keys"]]

    async def new_token() -> str:
        response = await token_request(world, world.service, grant_type="client_credentials")
        return str(response.json()["access_token"])

    [old] = await jwks()
    before = await new_token()
    async with tenant_scope(world.tenant):
        upcoming = (await keys.rotate_keys()).published
    assert await jwks() == [old, upcoming]  # published...
    assert parts(await new_token())[0]["kid"] == old  # ...before it signs

    async with tenant_scope(world.tenant):
        rotation = await keys.rotate_keys(force=True)
    assert rotation.promoted == upcoming
    after = await new_token()
    assert parts(after)[0]["kid"] == upcoming
    assert await jwks() == [old, upcoming, rotation.published]
    assert (await introspect(world, before))["active"] is True  # retired, still valid

    async with tenant_scope(world.tenant):
        await SigningKey.filter(kid=old).update(
            remove_after=datetime.now(UTC) - timedelta(seconds=1)
        )
        await keys.rotate_keys()
    assert old not in await jwks()
    assert await introspect(world, before) == {"active": False}
    assert (await introspect(world, after))["active"] is True
