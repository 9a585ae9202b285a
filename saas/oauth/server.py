"""The authorization server: authlib's framework-agnostic core, one instance for every
tenant (the tenant is the request's ``tenant_scope``, never state of the server).

**The thread hop.** authlib's grants, PKCE, client authentication and endpoints are
synchronous, and our storage is the async ORM. The edge runs each authlib call in a
worker thread (``anyio.to_thread.run_sync``), and every storage call authlib makes from
there is sent back to the event loop (``anyio.from_thread.run``). Both hops copy the
context, so the tenant scope bound by the edge (Tortoise's connection contextvar and
the current tenant) is what the storage calls see; ``tests/saas/oauth`` checks it.

**What is overridden, and why** (authlib's defaults are unsafe or do not fit):

- PKCE: S256 only, and required for every client: authlib accepts an authorization
  request without a challenge and then only insists on a verifier from public clients.
- Codes and refresh tokens are claimed by compare-and-swap when the token is stored
  (``schema.oauth.grants``), not read-then-deleted: one winner under concurrency, and
  a replay revokes the family.
- Refresh tokens rotate on every use; one is issued only with ``offline_access``.
- Access tokens are our own RFC 9068 JWTs: authlib's ``JWTBearerTokenGenerator`` signs
  with a random key of a key set that lacks ``kid``s, and its lifetimes are days.
- ``redirect_uri`` is required and matched exactly; no implicit or password grant.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio.from_thread
from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Payload,
    TokenMixin,
)
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter

from schema.audit.service import Acting, acting_as, current_acting
from schema.core.principal import Principal, PrincipalKind
from schema.oauth import grants
from schema.oauth.config import oauth_config
from schema.oauth.grants import ClientView, GrantRefused, GrantUser
from schema.oauth.introspection import Presented, find_presented, revoke_presented
from schema.oauth.models import ClientKind, GrantType
from schema.oauth.scopes import OFFLINE_ACCESS, grantable
from schema.oauth.tokens import access_claims, sign_access_token, token_id_of
from tenants.scope import current_tenant

T = TypeVar("T")

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
PUBLIC_METHOD = "none"


def on_loop(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """From authlib's worker thread: run a storage coroutine on the event loop, in the
    request's context (its tenant scope), and wait for it."""
    return anyio.from_thread.run(partial(fn, *args, **kwargs))


# --- authlib's models, over our snapshots ---------------------------------------------


class Client(ClientMixin):
    def __init__(self, view: ClientView) -> None:
        self.view = view

    def get_client_id(self) -> str:
        return self.view.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # every authorization request names its redirect URI

    def get_allowed_scope(self, scope: str | None) -> str | None:
        return grantable(self.view.scopes, scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.view.redirect_uris  # exact string match

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.view.secret_hash
        return stored is not None and hmac.compare_digest(stored, grants.digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.view.kind is ClientKind.PUBLIC:
            return method == PUBLIC_METHOD
        return method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.check_grant_type(GrantType.AUTHORIZATION_CODE)

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.view.grant_types


class Code(AuthorizationCodeMixin):
    def __init__(self, grant: grants.CodeGrant) -> None:
        self.grant = grant
        self.code_challenge = grant.code_challenge
        self.code_challenge_method = "S256"

    def get_redirect_uri(self) -> str:
        return self.grant.redirect_uri

    def get_scope(self) -> str:
        return self.grant.scope


class Refresh(TokenMixin):
    def __init__(self, grant: grants.RefreshGrant) -> None:
        self.grant = grant

    def check_client(self, client: Client) -> bool:
        return client.view.pk == self.grant.client_pk

    def get_scope(self) -> str:
        return self.grant.scope


class PresentedToken(TokenMixin):
    """A token shown to the revocation or introspection endpoint."""

    def __init__(self, presented: Presented) -> None:
        self.presented = presented

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == self.presented.client_id

    def is_expired(self) -> bool:
        return self.presented.expired

    def is_revoked(self) -> bool:
        return not self.presented.active


# --- grants ---------------------------------------------------------------------------


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only, for every client."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        # authlib lets a request without code_challenge through (plain OAuth 2): refuse
        # it, and refuse an absent method, which RFC 7636 would read as "plain".
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    # Every code carries a challenge (above), so authlib's validate_code_verifier asks
    # every client, confidential ones too, for the matching verifier.


class CodeFlow(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, PUBLIC_METHOD]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        on_loop(
            grants.save_code,
            code,
            client=request.client.view,
            user_id=request.user.user_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            code_challenge=request.payload.data["code_challenge"],
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = on_loop(grants.find_code, code, client.view)
        return Code(found) if found else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Nothing: the code was claimed when the token was stored, and is kept so that a
        replay still finds it."""

    def authenticate_user(self, authorization_code: Code) -> GrantUser | None:
        return on_loop(grants.active_user, authorization_code.grant.user_id, grants.new_sid())


class RefreshFlow(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, PUBLIC_METHOD]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each refresh token works once

    def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
        found = on_loop(grants.find_refresh_token, refresh_token)
        return Refresh(found) if found else None

    def authenticate_user(self, refresh_token: Refresh) -> GrantUser:
        grant = refresh_token.grant
        user = on_loop(grants.active_user, grant.user_id, grant.sid)
        if user is None:
            on_loop(grants.revoke_family, grant.sid, "user_inactive")
            raise InvalidGrantError("the user can no longer sign in")
        return user

    def revoke_old_credential(self, refresh_token: Refresh) -> None:
        """Nothing: the old token was claimed when its successor was stored."""


class ClientCredentialsFlow(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(SECRET_METHODS)


# --- tokens ---------------------------------------------------------------------------


class AccessTokenGenerator(BearerTokenGenerator):
    """RFC 9068 JWTs signed with the tenant's current key, lifetimes from the config,
    and a refresh token only with ``offline_access`` (or when rotating one)."""

    def __init__(self) -> None:
        super().__init__(access_token_generator=None)

    def generate(
        self,
        grant_type: str,
        client: Client,
        user: GrantUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scope = self.get_allowed_scope(client, scope)
        claims = access_claims(
            current_tenant(),
            client_id=client.get_client_id(),
            user_id=user.user_id if user else None,
            scope=scope,
            merchant_id=user.merchant_id if user else client.view.merchant_id,
            session_id=user.sid if user else None,
        )
        lifetime = oauth_config().access_token_lifetime
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": on_loop(sign_access_token, claims),
            "expires_in": int(lifetime.total_seconds()),
            "scope": scope,
        }
        if include_refresh_token and _refreshes(grant_type, client, scope):
            token["refresh_token"] = grants.new_secret()
        return token


def _refreshes(grant_type: str, client: Client, scope: str) -> bool:
    """A refresh token only for clients that may still refresh and ask offline_access:
    with the code grant when the user granted it, on a refresh always (rotation)."""
    may = client.check_grant_type(GrantType.REFRESH_TOKEN) and OFFLINE_ACCESS in client.view.scopes
    if not may:
        return False
    if grant_type == GrantType.REFRESH_TOKEN:
        return True
    return grant_type == GrantType.AUTHORIZATION_CODE and OFFLINE_ACCESS in scope.split()


# --- endpoints ------------------------------------------------------------------------


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [*SECRET_METHODS, PUBLIC_METHOD]

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        found = on_loop(find_presented, token_string)
        return PresentedToken(found) if found else None

    def revoke_token(self, token: PresentedToken, request: OAuth2Request) -> None:
        on_loop(revoke_presented, token.presented)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(SECRET_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        found = on_loop(find_presented, token_string)
        return PresentedToken(found) if found else None

    def check_permission(self, token: PresentedToken, client: Client, request: Any) -> bool:
        """Any confidential client of the tenant (its resource servers) may introspect
        the tenant's tokens, as in Keycloak; other tenants' tokens are not found here."""
        return True

    def introspect_token(self, token: PresentedToken) -> dict[str, Any]:
        return token.presented.describe()


class TenantIssuer(IssuerParameter):
    """RFC 9207: ``iss`` in every authorization response, against mix-up attacks."""

    def get_issuer(self) -> str:
        return oauth_config().issuer(current_tenant().slug)


# --- the server -----------------------------------------------------------------------


@dataclass(slots=True)
class Reply:
    """What authlib answers, turned into a Starlette response by the edge."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"]
        self.headers.append(("Location", value))


class Payload(OAuth2Payload):
    """The parameters of a request: the query for the authorization endpoint, the form
    body for the others."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = {}
        for key, value in items:
            self._datalist.setdefault(key, []).append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:  # type: ignore[override]
        return self._datalist


class Request(OAuth2Request):
    """A request read on the event loop, handed to authlib's thread as plain data: the
    parameters (the query at the authorization endpoint, the form body elsewhere) and
    the form body."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Any,
        *,
        parameters: Iterable[tuple[str, str]],
        form: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = Payload(parameters)
        self._form = Payload(form).data

    @property
    def form(self) -> dict[str, str]:
        return self._form


class TenantAuthorizationServer(AuthorizationServer):
    def __init__(self) -> None:
        super().__init__()
        # authlib makes this lazily on first use; made here, no two threads race for it.
        self._client_auth = ClientAuthentication(self.query_client)
        self.register_token_generator("default", AccessTokenGenerator())
        self.register_grant(CodeFlow, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshFlow)
        self.register_grant(ClientCredentialsFlow)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(TenantIssuer())

    def query_client(self, client_id: str) -> Client | None:
        view = on_loop(grants.find_client, client_id)
        return Client(view) if view else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        client: Client = request.client
        grant_type = request.payload.grant_type
        issue = grants.Issue(
            client=client.view,
            grant_type=grant_type,
            scope=token.get("scope", ""),
            token_id=token_id_of(token["access_token"]),
            user=request.user,
            refresh_token=token.get("refresh_token"),
        )
        try:
            if grant_type == GrantType.AUTHORIZATION_CODE:
                on_loop(
                    _as_client,
                    client.view,
                    grants.redeem_code,
                    request.authorization_code.grant,
                    issue,
                )
            elif grant_type == GrantType.REFRESH_TOKEN:
                on_loop(
                    _as_client,
                    client.view,
                    grants.rotate_refresh_token,
                    request.refresh_token.grant,
                    issue,
                )
            else:
                on_loop(_as_client, client.view, grants.record_client_token, issue)
        except GrantRefused as refused:
            raise InvalidGrantError(str(refused)) from None

    def create_oauth2_request(self, request: Request) -> Request:
        return request  # already made on the event loop

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no endpoint here takes JSON")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Reply:
        return Reply(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: the audit trail records what matters, in the storage calls."""


async def _as_client(client: ClientView, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``fn`` with the client as the actor of the audit records it writes."""
    acting = current_acting()
    principal = Principal(PrincipalKind.CLIENT, client_id=client.client_id)
    with acting_as(Acting(principal, acting.source_address, acting.request_id)):
        return await fn(*args)
