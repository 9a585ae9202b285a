"""The login page's state: a signed cookie, nothing stored on the server.

It holds the CSRF token (checked on every POST, compared in constant time) and, between
the password and the consent step, who signed in and for which authorization request.
The cookie is HttpOnly, SameSite=Lax, Secure when the public URL is https, limited to
the tenant's OAuth path, signed (itsdangerous, HMAC-SHA256 with a key derived from the
platform secret) and salted with the tenant's id, so one tenant's cookie is worthless
at another's. A session cannot be planted usefully: it carries no user until this
server has checked a password, and its CSRF token changes when one is.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from schema.oauth.config import LOGIN_SESSION_LIFETIME, oauth_config
from tenants.records import TenantRecord

COOKIE = "saas_oauth"
PURPOSE = "oauth-login-session"
MAX_AGE = int(LOGIN_SESSION_LIFETIME.total_seconds())


def fingerprint(parameters: Iterable[tuple[str, str]]) -> str:
    """Names one authorization request: the consent given is for exactly it."""
    canonical = "&".join(f"{k}={v}" for k, v in sorted(parameters))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(slots=True)
class LoginSession:
    csrf: str
    user_id: int | None = None  # signed in, waiting for consent
    request: str | None = None  # the fingerprint of the authorization request
    signed_in_at: float | None = None

    @classmethod
    def new(cls) -> LoginSession:
        return cls(csrf=secrets.token_urlsafe(32))

    def check_csrf(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf, presented)

    def sign_in(self, user_id: int, request: str) -> None:
        self.csrf = secrets.token_urlsafe(32)
        self.user_id, self.request, self.signed_in_at = user_id, request, time.time()

    def signed_in_user(self, request: str) -> int | None:
        """The user who signed in for this very request, within the session's lifetime."""
        fresh = self.signed_in_at is not None and time.time() - self.signed_in_at < MAX_AGE
        same = self.request is not None and hmac.compare_digest(self.request, request)
        return self.user_id if fresh and same else None

    def sign_out(self) -> None:
        self.user_id = self.request = self.signed_in_at = None


class LoginSessions:
    def __init__(self, *, secure: bool) -> None:
        self.secure = secure

    @staticmethod
    def _serializer(tenant: TenantRecord) -> URLSafeTimedSerializer:
        # itsdangerous signs with the last key and accepts all: oldest first.
        keys = list(reversed(oauth_config().secrets.keys(PURPOSE)))
        return URLSafeTimedSerializer(keys, salt=f"{PURPOSE}:{tenant.id}")

    def load(self, request: Request, tenant: TenantRecord) -> LoginSession:
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data: dict[str, Any] = self._serializer(tenant).loads(raw, max_age=MAX_AGE)
                return LoginSession(**data)
            except (BadSignature, TypeError):
                pass
        return LoginSession.new()

    def store(
        self, response: Response, tenant: TenantRecord, session: LoginSession, path: str
    ) -> None:
        value = self._serializer(tenant).dumps(
            {
                "csrf": session.csrf,
                "user_id": session.user_id,
                "request": session.request,
                "signed_in_at": session.signed_in_at,
            }
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=MAX_AGE,
            path=path,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
