"""The unsafe defaults, overridden: single-use codes and refresh tokens under
concurrency, reuse revoking the family, PKCE S256 for everyone, exact redirect URIs, no
implicit or password grant, bounded lifetimes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schema.identity.models import User, UserStatus
from schema.oauth.clients import disable_client
from schema.oauth.models import AuthorizationCode, OAuthClient, RefreshToken, TokenFamily
from tenants.scope import tenant_scope
from tests.saas.oauth.conftest import (
    WEB_REDIRECT,
    Registered,
    World,
    authorize_url,
    error_of,
    get_code,
    introspect,
    pkce_pair,
    redeem,
    redirect_params,
    refresh,
    sid_of,
    token_request,
)


def one_winner(responses: list[httpx.Response]) -> dict[str, Any]:
    """The tokens of the only request that succeeded; every other got invalid_grant."""
    won = [r for r in responses if r.status_code == 200]
    assert len(won) == 1
    lost = sorted(error_of(r) for r in responses if r.status_code != 200)
    assert lost == ["invalid_grant"] * (len(responses) - 1)
    return dict(won[0].json())


async def test_concurrent_redemption_of_one_code_has_one_winner(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    responses = await asyncio.gather(
        *(redeem(world, world.mobile, code, verifier) for _ in range(6))
    )
    won = [r for r in responses if r.status_code == 200]
    assert len(won) == 1
    assert sorted(error_of(r) for r in responses if r.status_code != 200) == ["invalid_grant"] * 5
    # The code was presented again: it leaked, so what the winner got is revoked too.
    assert (await introspect(world, won[0].json()["access_token"])) == {"active": False}
    assert (
        error_of(await refresh(world, world.mobile, won[0].json()["refresh_token"]))
        == "invalid_grant"
    )


async def test_a_replayed_code_revokes_the_tokens_it_gave(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    first = await redeem(world, world.mobile, code, verifier)
    assert first.status_code == 200
    assert (await introspect(world, first.json()["access_token"]))["active"] is True
    assert error_of(await redeem(world, world.mobile, code, verifier)) == "invalid_grant"
    assert (await introspect(world, first.json()["access_token"])) == {"active": False}
    async with tenant_scope(world.tenant):
        family = await TokenFamily.get(sid=sid_of(first.json()["access_token"]))
    assert family.revoked_reason == "code_replayed"


async def test_concurrent_refresh_has_one_winner_and_revokes_the_family(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    winner = one_winner(
        await asyncio.gather(
            *(refresh(world, world.mobile, issued["refresh_token"]) for _ in range(6))
        )
    )
    # The losers presented a rotated token: reuse. The whole family is revoked.
    assert error_of(await refresh(world, world.mobile, winner["refresh_token"])) == "invalid_grant"
    assert (await introspect(world, winner["access_token"])) == {"active": False}
    assert (await introspect(world, issued["access_token"])) == {"active": False}


async def test_reusing_a_rotated_refresh_token_revokes_the_family(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    rotated = await refresh(world, world.mobile, issued["refresh_token"])
    assert rotated.status_code == 200
    assert (await introspect(world, rotated.json()["refresh_token"]))["active"] is True
    assert error_of(await refresh(world, world.mobile, issued["refresh_token"])) == "invalid_grant"
    assert (await introspect(world, rotated.json()["refresh_token"])) == {"active": False}
    assert (
        error_of(await refresh(world, world.mobile, rotated.json()["refresh_token"]))
        == "invalid_grant"
    )
    async with tenant_scope(world.tenant):
        family = await TokenFamily.get(sid=sid_of(rotated.json()["access_token"]))
    assert family.revoked_reason == "refresh_token_reused"


async def test_a_refresh_for_a_deactivated_user_fails_and_revokes_the_family(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    async with tenant_scope(world.tenant):
        await User.filter(id=world.user_id).update(status=UserStatus.DEACTIVATED)
    assert error_of(await refresh(world, world.mobile, issued["refresh_token"])) == "invalid_grant"
    assert (await introspect(world, issued["access_token"])) == {"active": False}
    async with tenant_scope(world.tenant):
        family = await TokenFamily.get(sid=sid_of(issued["access_token"]))
    assert family.revoked_reason == "user_inactive"


async def test_a_refresh_token_needs_offline_access(world: World) -> None:
    code, verifier = await get_code(world, world.mobile, scope="orders:read")
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    assert issued["scope"] == "orders:read"
    assert "refresh_token" not in issued


async def test_lifetimes_are_short_and_bounded(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    async with tenant_scope(world.tenant):
        row = await AuthorizationCode.get(used_at=None)
    assert row.expires_at - row.created_at == timedelta(seconds=60)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    assert issued["expires_in"] == 300
    async with tenant_scope(world.tenant):
        family = await TokenFamily.get()
        token = await RefreshToken.get(family_id=family.id)
    assert family.expires_at - family.created_at == timedelta(days=30)
    assert token.expires_at - token.created_at == timedelta(days=14)


async def test_a_code_works_only_for_the_client_it_was_issued_to(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    stolen = await token_request(
        world,
        world.partner,
        grant_type="authorization_code",
        code=code,
        redirect_uri=world.mobile.redirect_uri or "",
        code_verifier=verifier,
    )
    assert error_of(stolen) == "invalid_grant"
    assert (await redeem(world, world.mobile, code, verifier)).status_code == 200


async def test_an_expired_code_is_refused(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    async with tenant_scope(world.tenant):
        await AuthorizationCode.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert error_of(await redeem(world, world.mobile, code, verifier)) == "invalid_grant"


async def test_an_idle_refresh_token_expires(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    async with tenant_scope(world.tenant):
        await RefreshToken.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert error_of(await refresh(world, world.mobile, issued["refresh_token"])) == "invalid_grant"


# --- PKCE ------------------------------------------------------------------------------


async def test_pkce_plain_is_refused(world: World) -> None:
    verifier, _ = pkce_pair()
    url = authorize_url(world, world.mobile, code_challenge=verifier, code_challenge_method="plain")
    params = redirect_params(await world.client.get(url))
    assert params["error"] == "invalid_request"
    assert params["state"] == "xyz"
    assert params["iss"] == "http://localhost:8000/t/acme"


@pytest.mark.parametrize("client_name", ["mobile", "partner"])
async def test_an_authorization_without_pkce_is_refused_for_every_client(
    world: World, client_name: str
) -> None:
    client = getattr(world, client_name)
    params = redirect_params(await world.client.get(authorize_url(world, client)))
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    _, challenge = pkce_pair()
    no_method = authorize_url(world, client, code_challenge=challenge)
    assert redirect_params(await world.client.get(no_method))["error"] == "invalid_request"


@pytest.mark.parametrize("client_name", ["mobile", "partner"])
async def test_the_verifier_is_required_and_checked_for_every_client(
    world: World, client_name: str
) -> None:
    client = getattr(world, client_name)
    code, verifier = await get_code(world, client)
    missing = await token_request(
        world,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=client.redirect_uri or "",
    )
    assert error_of(missing) == "invalid_request"
    wrong, _ = pkce_pair()
    assert error_of(await redeem(world, client, code, wrong)) == "invalid_grant"
    assert (await redeem(world, client, code, verifier)).status_code == 200


# --- redirect URIs, response and grant types ---------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        WEB_REDIRECT + "/",
        WEB_REDIRECT + "?x=1",
        "https://partner.example/callback#frag",
        "https://evil.example/callback",
        "HTTPS://partner.example/callback",
        "",
    ],
)
async def test_a_redirect_uri_must_match_exactly(world: World, redirect_uri: str) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(world, world.partner, challenge=challenge, redirect_uri=redirect_uri)
    response = await world.client.get(url)
    assert response.status_code == 400  # a page: never a redirect to an unchecked address
    assert "location" not in response.headers
    assert "not valid" in response.text


async def test_the_token_request_must_name_the_same_redirect_uri(world: World) -> None:
    code, verifier = await get_code(world, world.partner)
    response = await token_request(
        world,
        world.partner,
        grant_type="authorization_code",
        code=code,
        redirect_uri="https://evil.example/callback",
        code_verifier=verifier,
    )
    assert error_of(response) == "invalid_grant"


async def test_an_unknown_client_gets_a_page(world: World) -> None:
    _, challenge = pkce_pair()
    unknown = Registered("c_nobody", None, WEB_REDIRECT)
    response = await world.client.get(authorize_url(world, unknown, challenge=challenge))
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_the_implicit_grant_is_refused(world: World) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(world, world.mobile, challenge=challenge, response_type="token")
    params = redirect_params(await world.client.get(url))
    assert params["error"] == "unsupported_response_type"


async def test_the_password_grant_is_refused(world: World) -> None:
    response = await token_request(
        world,
        world.partner,
        grant_type="password",
        username="ada@acme.example",
        password="correct horse battery",
    )
    assert error_of(response) == "unsupported_grant_type"


async def test_a_grant_type_is_allowed_per_client(world: World) -> None:
    response = await token_request(world, world.partner, grant_type="client_credentials")
    assert error_of(response) == "unauthorized_client"
    response = await token_request(world, world.mobile, grant_type="client_credentials")
    assert error_of(response) == "invalid_client"  # a public client cannot authenticate


async def test_a_wrong_client_secret_is_refused(world: World) -> None:
    service = world.service
    response = await world.client.post(
        world.url("/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, "not-the-secret"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" in response.headers


async def test_a_scope_the_client_may_not_ask_for_is_refused(world: World) -> None:
    response = await token_request(
        world, world.service, grant_type="client_credentials", scope="users:manage"
    )
    assert error_of(response) == "invalid_scope"


async def test_a_disabled_client_gets_nothing_and_its_refresh_tokens_die(world: World) -> None:
    code, verifier = await get_code(world, world.mobile)
    issued = (await redeem(world, world.mobile, code, verifier)).json()
    async with tenant_scope(world.tenant):
        row = await OAuthClient.get(client_id=world.mobile.client_id)
        await disable_client(row.id, "lost phone")
    assert error_of(await refresh(world, world.mobile, issued["refresh_token"])) == "invalid_client"
    assert (await introspect(world, issued["access_token"])) == {"active": False}
    async with tenant_scope(world.tenant):
        family = await TokenFamily.get()
    assert family.revoked_reason == "client_disabled"
