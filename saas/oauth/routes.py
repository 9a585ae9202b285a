"""The OAuth 2 endpoints of every tenant, under ``/t/<slug>`` or on the tenant's host.

- ``/oauth/authorize`` (GET, POST): the login page, then the consent page (skipped for
  first-party clients), then a redirect with ``code``, ``state`` and ``iss``.
- ``/oauth/token``, ``/oauth/revoke`` (RFC 7009), ``/oauth/introspect`` (RFC 7662).
- ``/oauth/jwks.json``; server metadata at ``/.well-known/oauth-authorization-server``
  and ``/.well-known/openid-configuration`` (and RFC 8414's own form,
  ``/.well-known/oauth-authorization-server/t/<slug>``).

The tenant is resolved like GraphQL's (unknown: 404, suspended: 403, behind head: 503).
The issuer is ``{SAAS_PUBLIC_URL}/t/<slug>`` whichever way the request came in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import anyio.to_thread
import orjson
from authlib.oauth2 import OAuth2Error
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request as HTTPRequest
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from saas.graphql_http import tenancy_error
from saas.oauth.server import Reply, Request, TenantAuthorizationServer
from saas.oauth.sessions import LoginSession, LoginSessions, fingerprint
from saas.observability import request_id_var, tenant_var
from schema.access.catalog import PERMISSIONS
from schema.audit.service import Acting, acting_as
from schema.core.principal import ANONYMOUS
from schema.identity.service import SignInRefused, authenticate
from schema.oauth import grants, keys
from schema.oauth.config import JWKS_MAX_AGE, oauth_config
from schema.oauth.scopes import OFFLINE_ACCESS, describe, split
from schema.settings.service import get_settings
from tenants.errors import TenancyError
from tenants.records import TenantRecord
from tenants.resolver import TenantResolver
from tenants.scope import tenant_scope

T = TypeVar("T")
FORM = "application/x-www-form-urlencoded"
PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "referrer-policy": "no-referrer",
}
METADATA = ("oauth-authorization-server", "openid-configuration")


class Refused(Exception):
    """Ends a request early with this response."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def metadata(tenant: TenantRecord) -> dict[str, Any]:
    """RFC 8414 server metadata (also served at the OpenID discovery path)."""
    issuer = oauth_config().issuer(tenant.slug)
    secret_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/oauth/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "scopes_supported": [*sorted(PERMISSIONS), OFFLINE_ACCESS],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "revocation_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }


class OAuthEdge:
    def __init__(self, resolver: TenantResolver, *, max_body_bytes: int) -> None:
        self.resolver = resolver
        self.max_body_bytes = max_body_bytes
        self.server = TenantAuthorizationServer()
        self.sessions = LoginSessions(secure=oauth_config().public_url.startswith("https://"))
        self.pages = Environment(
            loader=PackageLoader("saas.oauth", "templates"), autoescape=select_autoescape()
        )

    def routes(self) -> list[Route]:
        endpoints: list[tuple[str, Callable[[HTTPRequest], Any], list[str]]] = [
            ("/oauth/authorize", self.authorize, ["GET", "POST"]),
            ("/oauth/token", self.token, ["POST"]),
            ("/oauth/revoke", self.revoke, ["POST"]),
            ("/oauth/introspect", self.introspect, ["POST"]),
            ("/oauth/jwks.json", self.jwks, ["GET"]),
            *((f"/.well-known/{name}", self.metadata, ["GET"]) for name in METADATA),
        ]
        routes = [
            Route(prefix + path, endpoint, methods=methods)
            for prefix in ("/t/{slug}", "")
            for path, endpoint, methods in endpoints
        ]
        routes.append(
            Route(
                "/.well-known/oauth-authorization-server/t/{slug}", self.metadata, methods=["GET"]
            )
        )
        return routes

    async def _serve(
        self, request: HTTPRequest, handle: Callable[[HTTPRequest, TenantRecord], Any]
    ) -> Response:
        """Resolve the tenant, enter its scope, act anonymously from the request's address."""
        try:
            tenant = await self.resolver.resolve(
                host=request.headers.get("host", ""), path_slug=request.path_params.get("slug")
            )
            tenant_var.set(tenant.slug)
            source = request.client.host if request.client else None
            acting = Acting(ANONYMOUS, source, request_id_var.get() or None)
            async with tenant_scope(tenant):
                with acting_as(acting):
                    response: Response = await handle(request, tenant)
                    return response
        except TenancyError as exc:
            error = tenancy_error(exc)
            body = {"error": error.code.value.lower(), "error_description": error.message}
            return _json(body, error.status, error.headers)
        except Refused as refused:
            return refused.response

    @staticmethod
    async def _thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """authlib's synchronous core, off the event loop (see ``saas.oauth.server``)."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    async def _form(self, request: HTTPRequest) -> list[tuple[str, str]]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM:
            raise Refused(_oauth_error("invalid_request", f"send the parameters as {FORM}"))
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > self.max_body_bytes:
            raise Refused(_oauth_error("invalid_request", "the request body is too large", 413))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body_bytes:
                raise Refused(_oauth_error("invalid_request", "the request body is too large", 413))
        try:
            return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise Refused(_oauth_error("invalid_request", "the body is not UTF-8")) from None

    @staticmethod
    def _oauth_request(
        request: HTTPRequest,
        tenant: TenantRecord,
        endpoint: str,
        parameters: Iterable[tuple[str, str]],
        form: Iterable[tuple[str, str]] = (),
    ) -> Request:
        uri = f"{oauth_config().issuer(tenant.slug)}{endpoint}"
        return Request(request.method, uri, request.headers, parameters=parameters, form=form)

    # --- token, revocation, introspection -----------------------------------------------

    async def token(self, request: HTTPRequest) -> Response:
        return await self._serve(request, self._token)

    async def _token(self, request: HTTPRequest, tenant: TenantRecord) -> Response:
        form = await self._form(request)
        oauth = self._oauth_request(request, tenant, "/oauth/token", form, form)
        return _response(await self._thread(self.server.create_token_response, oauth))

    async def revoke(self, request: HTTPRequest) -> Response:
        return await self._serve(request, partial(self._endpoint, "revocation", "/oauth/revoke"))

    async def introspect(self, request: HTTPRequest) -> Response:
        return await self._serve(
            request, partial(self._endpoint, "introspection", "/oauth/introspect")
        )

    async def _endpoint(
        self, name: str, path: str, request: HTTPRequest, tenant: TenantRecord
    ) -> Response:
        form = await self._form(request)
        oauth = self._oauth_request(request, tenant, path, form, form)
        return _response(await self._thread(self.server.create_endpoint_response, name, oauth))

    # --- keys and metadata ----------------------------------------------------------------

    async def jwks(self, request: HTTPRequest) -> Response:
        async def published(request: HTTPRequest, tenant: TenantRecord) -> Response:
            max_age = int(JWKS_MAX_AGE.total_seconds())
            return _json(
                await keys.published_jwks(), headers={"cache-control": f"public, max-age={max_age}"}
            )

        return await self._serve(request, published)

    async def metadata(self, request: HTTPRequest) -> Response:
        async def document(request: HTTPRequest, tenant: TenantRecord) -> Response:
            return _json(metadata(tenant), headers={"cache-control": "public, max-age=3600"})

        return await self._serve(request, document)

    # --- the authorization endpoint -------------------------------------------------------

    async def authorize(self, request: HTTPRequest) -> Response:
        return await self._serve(request, self._authorize)

    async def _authorize(self, request: HTTPRequest, tenant: TenantRecord) -> Response:
        parameters = list(request.query_params.multi_items())
        oauth = self._oauth_request(request, tenant, "/oauth/authorize", parameters)
        try:
            grant = await self._thread(self.server.get_consent_grant, oauth)
        except OAuth2Error as error:
            return await self._authorization_error(oauth, error)
        page = _Page(self, request, tenant, grant.client.view)
        session = self.sessions.load(request, tenant)
        if request.method == "GET":
            return await page.login(session)
        form = dict(await self._form(request))
        if not session.check_csrf(form.get("csrf_token")):
            return await page.error(
                "Session expired", "This form has expired or was not sent from this page.", 403
            )
        if form.get("step") == "consent":
            return await self._consent(page, session, grant, oauth, form)
        return await self._sign_in(page, session, grant, oauth, form)

    async def _sign_in(
        self, page: _Page, session: LoginSession, grant: Any, oauth: Request, form: dict[str, str]
    ) -> Response:
        email = form.get("email", "")
        try:
            user = await authenticate(
                email, form.get("password", ""), source_address=page.source_address
            )
        except SignInRefused as refused:
            return await page.login(session, error=_sign_in_message(refused), email=email)
        owner = grants.GrantUser(user.id, user.merchant_id)
        if page.client.first_party:
            return await self._issue(grant, oauth, owner)
        session.sign_in(user.id, fingerprint(oauth.payload.data.items()))
        return await page.consent(session, grant.request.scope)

    async def _consent(
        self, page: _Page, session: LoginSession, grant: Any, oauth: Request, form: dict[str, str]
    ) -> Response:
        user_id = session.signed_in_user(fingerprint(oauth.payload.data.items()))
        owner = await grants.active_user(user_id) if user_id is not None else None
        if owner is None:
            session.sign_out()
            return await page.login(session, error="Sign in again to continue.")
        session.sign_out()
        allowed = form.get("decision") == "allow"
        response = await self._issue(grant, oauth, owner if allowed else None)
        self.sessions.store(response, page.tenant, session, page.cookie_path)
        return response

    async def _issue(self, grant: Any, oauth: Request, owner: grants.GrantUser | None) -> Response:
        """The redirect with a code (or ``access_denied`` when ``owner`` is None)."""
        reply = await self._thread(
            self.server.create_authorization_response, oauth, grant_user=owner, grant=grant
        )
        return _response(reply)

    async def _authorization_error(self, oauth: Request, error: OAuth2Error) -> Response:
        """Back to the client when its redirect URI was verified, else a page: never a
        redirect to an unverified address."""
        if error.redirect_uri:
            reply: Reply = self.server.handle_error_response(oauth, error)
            self.server.execute_hook("after_create_authorization_response", reply)
            return _response(reply)
        html = self.pages.get_template("error.html").render(
            tenant_name="",
            title="This sign-in link is not valid",
            message=error.get_error_description(),
        )
        return HTMLResponse(html, 400, headers=PAGE_HEADERS)


def _sign_in_message(refused: SignInRefused) -> str:
    """The identity service's own wording, as a sentence: it tells nothing about an
    account before its password was right (see ``schema.identity.service.signin``)."""
    text = refused.message
    return f"{text[:1].upper()}{text[1:]}."


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return _json({"error": error, "error_description": description}, status)


def _response(reply: Reply) -> Response:
    headers = dict(reply.headers)
    if reply.status in (301, 302, 303, 307) and reply.location:
        return RedirectResponse(reply.location, 302, headers={"cache-control": "no-store"})
    if isinstance(reply.body, dict):
        return Response(orjson.dumps(reply.body), reply.status, headers, "application/json")
    return Response(reply.body or b"", reply.status, headers)


class _Page:
    """The login, consent and error pages of one authorization request."""

    def __init__(
        self, edge: OAuthEdge, request: HTTPRequest, tenant: TenantRecord, client: grants.ClientView
    ) -> None:
        self.edge = edge
        self.tenant = tenant
        self.client = client
        self.action = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        path = request.url.path
        self.cookie_path = path[: path.index("/oauth/") + len("/oauth")]
        self.source_address = request.client.host if request.client else None

    async def _render(
        self, template: str, session: LoginSession, status: int = 200, **values: Any
    ) -> Response:
        tenant_name = (await get_settings()).name
        html = self.edge.pages.get_template(template).render(
            tenant_name=tenant_name,
            client_name=self.client.name,
            action=self.action,
            csrf_token=session.csrf,
            **values,
        )
        response = HTMLResponse(html, status, headers=PAGE_HEADERS)
        self.edge.sessions.store(response, self.tenant, session, self.cookie_path)
        return response

    async def login(
        self, session: LoginSession, *, error: str | None = None, email: str = ""
    ) -> Response:
        return await self._render("login.html", session, error=error, email=email)

    async def consent(self, session: LoginSession, scope: str) -> Response:
        scopes = [(s, describe(s)) for s in split(scope)]
        return await self._render("consent.html", session, scopes=scopes)

    async def error(self, title: str, message: str, status: int) -> Response:
        return await self._render(
            "error.html", LoginSession.new(), status, title=title, message=message
        )
