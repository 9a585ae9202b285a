"""What the OAuth 2 domain needs from the composition root (``saas``): the public URL
issuers are built on, the platform secret private keys are sealed with, and the
lifetimes. ``configure_oauth`` sets it once per process; until then (tests, scripts)
the development defaults below apply, which production refuses to start with
(``saas/config.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from schema.core.secrets import DEVELOPMENT_SECRET, SecretRing

# Short enough that a code cannot wait around, long enough for a slow mobile round trip.
CODE_LIFETIME = timedelta(seconds=60)
# Clock skew tolerated on ``exp``/``nbf``/``iat`` of access tokens.
LEEWAY = timedelta(seconds=10)
# How long JWKS responses may be cached by resource servers (Cache-Control max-age).
JWKS_MAX_AGE = timedelta(hours=1)
# A new key is published (state ``next``) at least this long before it signs, so that
# every cached JWKS has it by then (much more than JWKS_MAX_AGE: the rotation job runs
# daily).
PUBLISH_LEAD = timedelta(days=1)
# How long a process keeps a tenant's keys before reading them again: bounds how long
# it may go on signing with a key another process has just retired.
KEY_CACHE_TTL = timedelta(seconds=60)
# An authorization (login, then consent) must be finished within this.
LOGIN_SESSION_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    public_url: str = "http://localhost:8000"
    secrets: SecretRing = field(default_factory=lambda: SecretRing((DEVELOPMENT_SECRET,)))
    access_token_lifetime: timedelta = timedelta(minutes=5)
    refresh_idle_lifetime: timedelta = timedelta(days=14)
    refresh_max_lifetime: timedelta = timedelta(days=30)
    key_rotation_interval: timedelta = timedelta(days=90)

    def issuer(self, slug: str) -> str:
        """The tenant's issuer identifier: never derived from a request's Host header."""
        return f"{self.public_url.rstrip('/')}/t/{slug}"

    def audience(self, slug: str) -> str:
        """The resource the tokens are for: the tenant's GraphQL API."""
        return f"{self.issuer(slug)}/graphql"

    @property
    def retired_key_lifetime(self) -> timedelta:
        """How long a retired key stays published: a process may sign with it for up to
        KEY_CACHE_TTL after it was retired, and its tokens live for the access token
        lifetime plus the leeway."""
        return KEY_CACHE_TTL + self.access_token_lifetime + LEEWAY


_config = OAuthConfig()


def configure_oauth(config: OAuthConfig) -> None:
    global _config
    _config = config


def oauth_config() -> OAuthConfig:
    return _config
