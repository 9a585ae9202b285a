"""The OAuth 2 authorization server of every tenant: authlib's core (``server``), its
Starlette endpoints (``routes``), the login page's session (``sessions``) and pages
(``templates/``)."""

from __future__ import annotations

from datetime import timedelta

from saas.config import Settings
from schema.oauth.config import OAuthConfig


def oauth_config_from(settings: Settings) -> OAuthConfig:
    return OAuthConfig(
        public_url=settings.public_url,
        secrets=settings.secret_ring,
        access_token_lifetime=timedelta(seconds=settings.oauth_access_token_seconds),
        refresh_idle_lifetime=timedelta(days=settings.oauth_refresh_idle_days),
        refresh_max_lifetime=timedelta(days=settings.oauth_refresh_max_days),
        key_rotation_interval=timedelta(days=settings.oauth_key_rotation_days),
    )
