"""A token a client presents for revocation (RFC 7009) or introspection (RFC 7662).

Access tokens are recognised by their shape (a JWS) and verified with this tenant's
keys: another tenant's token is simply not found here. Beyond signature and dates,
introspection asks whether the token is still live: its client active, its family and
the token itself not revoked, its user active. Refresh tokens are looked up by digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schema.oauth import grants
from schema.oauth.config import oauth_config
from schema.oauth.tokens import AccessClaims, InvalidToken, verify_access_token
from tenants.scope import current_tenant

ACCESS = "access_token"
REFRESH = "refresh_token"


@dataclass(frozen=True, slots=True)
class Presented:
    kind: str  # ACCESS or REFRESH
    client_id: str
    active: bool
    access: AccessClaims | None = None
    refresh: grants.RefreshTokenInfo | None = None

    def describe(self) -> dict[str, Any]:
        """RFC 7662's answer for an active token."""
        tenant = current_tenant()
        config = oauth_config()
        base = {"active": True, "client_id": self.client_id, "iss": config.issuer(tenant.slug)}
        if self.access is not None:
            claims = self.access
            described = {
                **base,
                "token_type": "Bearer",
                "scope": " ".join(sorted(claims.scopes)),
                "sub": claims.subject,
                "aud": config.audience(tenant.slug),
                "exp": int(claims.expires_at.timestamp()),
                "iat": int(claims.issued_at.timestamp()) if claims.issued_at else None,
                "jti": claims.token_id,
                "tenant": tenant.id,
                "sid": claims.session_id,
                "merchant_id": claims.merchant_id,
            }
        else:
            assert self.refresh is not None
            info = self.refresh
            described = {
                **base,
                "token_type": REFRESH,
                "scope": info.scope,
                "sub": str(info.user_id),
                "exp": int(info.expires_at.timestamp()),
                "iat": int(info.issued_at.timestamp()),
                "tenant": tenant.id,
                "sid": info.sid,
            }
        return {k: v for k, v in described.items() if v is not None}

    @property
    def expired(self) -> bool:
        ends = self.access.expires_at if self.access else self.refresh.expires_at  # type: ignore[union-attr]
        return ends <= datetime.now(UTC)


async def find_presented(token: str) -> Presented | None:
    """The current tenant's token ``token`` (either kind: a ``token_type_hint`` is only a
    hint, RFC 7009 section 2.1), or None when it is none of its tokens."""
    if token.count(".") == 2:
        try:
            claims = await verify_access_token(current_tenant(), token)
        except InvalidToken:
            return None
        live = await grants.access_token_live(claims)
        return Presented(ACCESS, claims.client_id, live, access=claims)
    info = await grants.refresh_token_info(token)
    if info is None:
        return None
    return Presented(REFRESH, info.client_id, info.active, refresh=info)


async def revoke_presented(presented: Presented) -> None:
    """A refresh token ends its whole family (RFC 7009 section 2.1: and the access
    tokens of the same grant); an access token is revoked alone until it expires."""
    if presented.refresh is not None:
        await grants.revoke_family(presented.refresh.sid, "revoked")
    elif presented.access is not None:
        await grants.revoke_access_token(presented.access)
