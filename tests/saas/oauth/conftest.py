"""A tenant with a user and OAuth clients, served by the real app, and a headless
browser for the login page."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from schema.identity.models import User
from schema.identity.service import create_user
from schema.oauth.clients import ClientSettings, NewClient, create_client
from schema.oauth.config import oauth_config
from schema.oauth.models import ClientKind, GrantType
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.saas.harness import RunningApp
from tests.schema.identity.conftest import PASSWORD, fast_hashing  # noqa: F401 (autouse)
from tests.schema.oauth.forge import parts

EMAIL = "ada@acme.example"
APP_REDIRECT = "com.acme.app:/oauth/callback"
WEB_REDIRECT = "https://partner.example/callback"


@pytest.fixture(autouse=True)
def oauth_config_restored() -> Iterator[None]:
    """The app configures the process-wide OAuth settings: put them back afterwards."""
    from schema.oauth.config import configure_oauth

    before = oauth_config()
    yield
    configure_oauth(before)


@dataclass(slots=True)
class Registered:
    client_id: str
    secret: str | None
    redirect_uri: str | None


@dataclass(slots=True)
class World:
    """Tenant acme with Ada (an active user) and three clients."""

    running: RunningApp
    tenant: TenantRecord
    user_id: int
    mobile: Registered  # public, first party, code + refresh
    partner: Registered  # confidential, third party, code + refresh
    service: Registered  # confidential, client credentials only, a merchant's server

    @property
    def client(self) -> httpx.AsyncClient:
        return self.running.client

    def url(self, path: str) -> str:
        return f"http://localhost/t/acme{path}"


async def register(
    kind: ClientKind,
    grants: list[GrantType],
    *,
    redirect_uris: tuple[str, ...] = (),
    scopes: tuple[str, ...] = ("orders:read", "orders:place", "offline_access"),
    first_party: bool = False,
    merchant_id: int | None = None,
    name: str = "App",
) -> Registered:
    settings = ClientSettings(
        name=name,
        redirect_uris=list(redirect_uris),
        grant_types=grants,
        scopes=list(scopes),
        first_party=first_party,
    )
    made = await create_client(NewClient(kind, settings, merchant_id))
    return Registered(
        made.client.client_id, made.secret, redirect_uris[0] if redirect_uris else None
    )


@pytest.fixture
async def world(running_app: RunningApp) -> World:
    tenant = await running_app.add_tenant("acme", "Acme Ltd")
    code_flow = [GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN]
    async with tenant_scope(tenant):
        user = await create_user(EMAIL, "Ada Lovelace", password=PASSWORD, email_verified=True)
        mobile = await register(
            ClientKind.PUBLIC,
            code_flow,
            redirect_uris=(APP_REDIRECT,),
            first_party=True,
            name="Acme app",
        )
        partner = await register(
            ClientKind.CONFIDENTIAL, code_flow, redirect_uris=(WEB_REDIRECT,), name="Partner"
        )
        service = await register(
            ClientKind.CONFIDENTIAL,
            [GrantType.CLIENT_CREDENTIALS],
            scopes=("orders:read", "listings:*"),
            merchant_id=7,
            name="Merchant server",
        )
    return World(running_app, tenant, user.id, mobile, partner, service)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize_url(
    world: World,
    client: Registered,
    *,
    scope: str = "orders:read offline_access",
    state: str = "xyz",
    challenge: str | None = None,
    **extra: str,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri or "",
        "scope": scope,
        "state": state,
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return world.url("/oauth/authorize?" + urlencode({**params, **extra}))


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} in the page"
    return found.group(1)


async def sign_in(
    browser: httpx.AsyncClient,
    url: str,
    *,
    email: str = EMAIL,
    password: str = PASSWORD,
    consent: str | None = "allow",
) -> httpx.Response:
    """A headless user: open the login page, post the password, (decide on the consent
    page,) and return the last response: the redirect to the client, or a page."""
    page = await browser.get(url)
    assert page.status_code == 200, page.text
    response = await browser.post(
        url,
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "step": "login",
            "email": email,
            "password": password,
        },
    )
    if response.status_code == 200 and 'value="consent"' in response.text and consent:
        response = await decide(browser, url, response, consent)
    return response


async def decide(
    browser: httpx.AsyncClient, url: str, consent_page: httpx.Response, decision: str
) -> httpx.Response:
    """Press ``allow`` or ``deny`` on the consent page."""
    return await browser.post(
        url,
        data={
            "csrf_token": hidden(consent_page.text, "csrf_token"),
            "step": "consent",
            "decision": decision,
        },
    )


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    return {k: v[0] for k, v in parse_qs(location.query).items()}


async def user_of(world: World) -> User:
    async with tenant_scope(world.tenant):
        return await User.get(id=world.user_id)


async def get_code(
    world: World, client: Registered, *, scope: str = "orders:read offline_access"
) -> tuple[str, str]:
    """A fresh code for ``client`` and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    response = await sign_in(
        world.client, authorize_url(world, client, scope=scope, challenge=challenge)
    )
    return redirect_params(response)["code"], verifier


def credentials(client: Registered) -> dict[str, str]:
    if client.secret is None:
        return {"client_id": client.client_id}
    return {"client_id": client.client_id, "client_secret": client.secret}


async def token_request(world: World, client: Registered, **form: str) -> httpx.Response:
    return await world.client.post(world.url("/oauth/token"), data={**credentials(client), **form})


async def redeem(world: World, client: Registered, code: str, verifier: str) -> httpx.Response:
    return await token_request(
        world,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=client.redirect_uri or "",
        code_verifier=verifier,
    )


async def refresh(world: World, client: Registered, token: str) -> httpx.Response:
    return await token_request(world, client, grant_type="refresh_token", refresh_token=token)


async def introspect(world: World, token: str) -> dict[str, Any]:
    partner = world.partner
    response = await world.client.post(
        world.url("/oauth/introspect"),
        data={"token": token},
        auth=(partner.client_id, partner.secret or ""),
    )
    assert response.status_code == 200, response.text
    return response.json()


def sid_of(access_token: str) -> str:
    return str(parts(access_token)[1]["sid"])


def error_of(response: httpx.Response) -> str:
    assert response.status_code in (400, 401), response.text
    return str(response.json()["error"])
