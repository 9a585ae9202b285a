"""The login and consent pages: the tenant's name, CSRF on every POST, errors that do
not tell which emails exist, consent bound to one authorization request."""

from __future__ import annotations

import httpx

from schema.oauth.clients import ClientSettings, update_client
from schema.oauth.models import AuthorizationCode, OAuthClient
from schema.settings.service import SettingsChanges, update_settings
from tenants.scope import tenant_scope
from tests.saas.oauth.conftest import (
    EMAIL,
    PASSWORD,
    World,
    authorize_url,
    decide,
    hidden,
    pkce_pair,
    redirect_params,
    sign_in,
)


def partner_url(world: World, state: str = "xyz") -> str:
    _, challenge = pkce_pair()
    return authorize_url(world, world.partner, challenge=challenge, state=state)


async def codes(world: World) -> int:
    async with tenant_scope(world.tenant):
        return await AuthorizationCode.all().count()


async def test_the_login_page_names_the_tenant_and_the_client(world: World) -> None:
    async with tenant_scope(world.tenant):
        await update_settings(SettingsChanges(name="Acme Marketplace"), actor="test")
        row = await OAuthClient.get(client_id=world.partner.client_id)
        await update_client(row.id, ClientSettings(name="<script>alert(1)</script>"))
    page = await world.client.get(partner_url(world))
    assert page.status_code == 200
    assert "<title>Sign in to Acme Marketplace</title>" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/t/acme/oauth" in cookie


async def test_a_post_without_the_csrf_token_is_refused(world: World) -> None:
    url = partner_url(world)
    await world.client.get(url)  # the session cookie is set
    login = {"step": "login", "email": EMAIL, "password": PASSWORD}
    for token in (None, "", "forged"):
        data = login if token is None else {**login, "csrf_token": token}
        response = await world.client.post(url, data=data)
        assert response.status_code == 403
        assert "expired" in response.text
    assert await codes(world) == 0


async def test_the_csrf_token_is_worthless_without_its_cookie(world: World) -> None:
    url = partner_url(world)
    page = await world.client.get(url)
    token = hidden(page.text, "csrf_token")
    world.client.cookies.clear()
    response = await world.client.post(
        url, data={"csrf_token": token, "step": "login", "email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 403


async def test_another_tenants_session_cookie_is_worthless(world: World) -> None:
    await world.running.add_tenant("globex", "Globex")
    page = await world.client.get(partner_url(world))
    token = hidden(page.text, "csrf_token")
    cookie = world.client.cookies.get("saas_oauth")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.running.app), base_url="http://localhost"
    ) as other:
        other.cookies.set("saas_oauth", cookie or "", path="/t/globex/oauth")
        url = partner_url(world).replace("/t/acme/", "/t/globex/")
        response = await other.post(url, data={"csrf_token": token, "step": "login"})
    # Globex has no such client, so it is refused before the form is even looked at;
    # the cookie's signature is salted per tenant in any case.
    assert response.status_code == 400


async def test_a_wrong_password_and_an_unknown_email_read_the_same(world: World) -> None:
    url = partner_url(world)
    wrong = await sign_in(world.client, url, password="not the password")
    unknown = await sign_in(world.client, url, email="nobody@acme.example")
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "location" not in response.headers
        assert "Wrong email or password." in response.text
    assert await codes(world) == 0


async def test_consent_lists_the_scopes_and_a_denial_goes_back_to_the_client(world: World) -> None:
    url = partner_url(world, state="s-1")
    consent = await sign_in(world.client, url, consent=None)
    assert consent.status_code == 200
    assert "Allow Partner?" in consent.text
    assert "<code>orders:read</code>: see orders, their history" in consent.text
    assert "<code>offline_access</code>: keep access while you are away" in consent.text
    assert await codes(world) == 0  # nothing until the user decides
    denied = await decide(world.client, url, consent, "deny")
    params = redirect_params(denied)
    assert (params["error"], params["state"]) == ("access_denied", "s-1")
    assert await codes(world) == 0


async def test_consent_holds_for_the_request_it_was_given_for_only(world: World) -> None:
    first = partner_url(world, state="one")
    consent = await sign_in(world.client, first, consent=None)
    other = partner_url(world, state="two")  # another request (and PKCE challenge)
    response = await decide(world.client, other, consent, "allow")
    assert response.status_code == 200
    assert "Sign in again" in response.text
    assert await codes(world) == 0


async def test_the_csrf_token_changes_when_the_user_signs_in(world: World) -> None:
    url = partner_url(world)
    page = await world.client.get(url)
    before = hidden(page.text, "csrf_token")
    consent = await world.client.post(
        url, data={"csrf_token": before, "step": "login", "email": EMAIL, "password": PASSWORD}
    )
    replay = await world.client.post(
        url, data={"csrf_token": before, "step": "consent", "decision": "allow"}
    )
    assert hidden(consent.text, "csrf_token") != before
    assert replay.status_code == 403
