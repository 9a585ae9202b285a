"""Who a request acts as: the ``Authorization`` header turned into a ``Principal``.

A bearer token (RFC 6750) is verified against the tenant the request was routed to, so
another tenant's token fails on its signature and on its ``tenant`` claim. What the
principal may do is the token's scope narrowed to the user's current roles (or, for a
client acting as itself, to what its scope names): roles are read at request time, not
baked into the token, so revoking a role takes effect within the access cache's TTL.
"""

from __future__ import annotations

from schema.access.service import access_for_user, grants_for_scopes
from schema.core.principal import ANONYMOUS, Principal, PrincipalKind
from schema.oauth.tokens import AccessClaims, InvalidToken, verify_access_token
from tenants.records import TenantRecord


class Unauthorized(Exception):
    """The request carried credentials that are not valid here (HTTP 401)."""

    def __init__(self, message: str, *, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.message = message
        self.error = error

    def challenge(self, tenant: TenantRecord) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 section 3)."""
        return f'Bearer realm="{tenant.slug}", error="{self.error}"'


def bearer_token(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send the access token as 'Authorization: Bearer <token>'",
                           error="invalid_request")  # fmt: skip
    return token


async def authenticate(tenant: TenantRecord, authorization: str | None) -> Principal:
    """The principal of a request to ``tenant``; runs inside the tenant's scope."""
    token = bearer_token(authorization)
    if token is None:
        return ANONYMOUS
    try:
        claims = await verify_access_token(tenant, token)
    except InvalidToken as exc:
        raise Unauthorized(f"the access token is not valid here: {exc}") from None
    if claims.user_id is None:
        return _client_principal(claims)
    return await _user_principal(claims)


def _client_principal(claims: AccessClaims) -> Principal:
    return Principal(
        PrincipalKind.CLIENT,
        grants=grants_for_scopes(claims.scopes, claims.merchant_id),
        client_id=claims.client_id,
        scopes=claims.scopes,
        token_id=claims.token_id,
        merchant_id=claims.merchant_id,
    )


async def _user_principal(claims: AccessClaims) -> Principal:
    assert claims.user_id is not None
    access = await access_for_user(claims.user_id)
    if access is None or not access.active:
        raise Unauthorized("the account of this access token is not active")
    return Principal(
        PrincipalKind.USER,
        grants=access.grants.within_scope(claims.scopes),
        user_id=claims.user_id,
        client_id=claims.client_id,
        scopes=claims.scopes,
        token_id=claims.token_id,
        merchant_id=access.merchant_id,
    )
