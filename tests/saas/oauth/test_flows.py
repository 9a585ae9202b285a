"""A real OAuth client (authlib's httpx client) against the server over HTTP: the code
flow with PKCE driving the login page headlessly, refresh with rotation, client
credentials; the tokens it gets are verified as the GraphQL edge will."""

from __future__ import annotations

from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client

from schema.oauth.models import RefreshToken, TokenFamily
from schema.oauth.tokens import AccessClaims, verify_access_token
from tenants.scope import tenant_scope
from tests.saas.oauth.conftest import (
    World,
    pkce_pair,
    redirect_params,
    sign_in,
)
from tests.schema.oauth.forge import parts


def oauth_client(world: World, **options: Any) -> AsyncOAuth2Client:
    transport = httpx.ASGITransport(app=world.running.app)
    return AsyncOAuth2Client(transport=transport, code_challenge_method="S256", **options)


async def verified(world: World, token: str) -> AccessClaims:
    async with tenant_scope(world.tenant):
        return await verify_access_token(world.tenant, token)


async def code_flow(world: World, client: AsyncOAuth2Client, scope: str) -> dict[str, Any]:
    verifier, _ = pkce_pair()
    url, state = client.create_authorization_url(
        world.url("/oauth/authorize"), code_verifier=verifier, scope=scope
    )
    response = await sign_in(world.client, url)
    params = redirect_params(response)
    assert params["state"] == state
    assert params["iss"] == "http://localhost:8000/t/acme"  # RFC 9207
    return await client.fetch_token(
        world.url("/oauth/token"),
        authorization_response=response.headers["location"],
        code_verifier=verifier,
    )


async def test_a_public_first_party_app_runs_code_pkce_and_refresh(world: World) -> None:
    mobile = world.mobile
    async with oauth_client(
        world,
        client_id=mobile.client_id,
        token_endpoint_auth_method="none",
        redirect_uri=mobile.redirect_uri,
    ) as client:
        token = await code_flow(world, client, "orders:read offline_access")
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] == 300
        assert token["scope"] == "orders:read offline_access"
        claims = await verified(world, token["access_token"])
        assert claims.user_id == world.user_id
        assert claims.client_id == mobile.client_id
        assert claims.scopes == {"orders:read", "offline_access"}
        assert claims.session_id is not None
        header, payload, _ = parts(token["access_token"])
        assert header["typ"] == "at+jwt"
        assert payload["aud"] == "http://localhost:8000/t/acme/graphql"

        first_refresh = token["refresh_token"]
        refreshed = await client.refresh_token(
            world.url("/oauth/token"), refresh_token=first_refresh
        )
        assert refreshed["refresh_token"] != first_refresh  # rotated
        again = await verified(world, refreshed["access_token"])
        assert again.session_id == claims.session_id
        assert again.token_id != claims.token_id

    async with tenant_scope(world.tenant):
        family = await TokenFamily.get(sid=claims.session_id)
        tokens = await RefreshToken.filter(family_id=family.id).order_by("id")
    assert [t.used_at is not None for t in tokens] == [True, False]
    assert family.revoked_at is None
    stored = {t.token_hash for t in tokens}
    assert first_refresh not in stored  # only digests are stored
    assert refreshed["refresh_token"] not in stored


async def test_a_confidential_partner_asks_for_consent(world: World) -> None:
    partner = world.partner
    async with oauth_client(
        world,
        client_id=partner.client_id,
        client_secret=partner.secret,
        redirect_uri=partner.redirect_uri,
    ) as client:
        token = await code_flow(world, client, "orders:read orders:refund")
    assert token["scope"] == "orders:read"  # orders:refund is not the partner's to ask for
    assert "refresh_token" not in token  # no offline_access asked for
    claims = await verified(world, token["access_token"])
    assert (claims.user_id, claims.client_id) == (world.user_id, partner.client_id)


async def test_client_credentials_for_a_merchants_server(world: World) -> None:
    service = world.service
    async with oauth_client(
        world, client_id=service.client_id, client_secret=service.secret
    ) as client:
        token = await client.fetch_token(
            world.url("/oauth/token"), grant_type="client_credentials", scope="listings:read"
        )
    assert "refresh_token" not in token
    assert token["scope"] == "listings:read"
    claims = await verified(world, token["access_token"])
    assert claims.user_id is None
    assert claims.subject == claims.client_id == service.client_id
    assert claims.merchant_id == 7
    assert claims.session_id is None
