"""OAuth 2 storage of a tenant: clients, codes, refresh-token families, signing keys.

Secrets are stored as SHA-256 digests: client secrets, codes and refresh tokens are
256-bit random values made here, so nobody can guess one from its digest and a slow
password hash would only add latency to every token request.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ClientKind(StrEnum):
    PUBLIC = "public"  # mobile and browser apps: no secret, PKCE only
    CONFIDENTIAL = "confidential"  # servers: a secret


class ClientStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class GrantType(StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"
    CLIENT_CREDENTIALS = "client_credentials"


class OAuthClient(Model):
    id = fields.IntField(primary_key=True)
    client_id = fields.CharField(max_length=64, unique=True)  # public, random
    name = fields.CharField(max_length=200)
    kind = fields.CharEnumField(ClientKind, max_length=20)
    secret_hash = fields.CharField(max_length=64, null=True)  # confidential clients only
    redirect_uris: list[str] = fields.JSONField(default=list)  # exact strings
    grant_types: list[str] = fields.JSONField(default=list)
    scopes: list[str] = fields.JSONField(default=list)  # what it may ask for
    merchant_id = fields.IntField(null=True)  # a merchant's own server
    first_party = fields.BooleanField(default=False)  # the tenant's own apps: no consent page
    status = fields.CharEnumField(ClientStatus, max_length=20, default=ClientStatus.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    secret_rotated_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "oauth_client"


class AuthorizationCode(Model):
    id = fields.IntField(primary_key=True)
    code_hash = fields.CharField(max_length=64, unique=True)
    client: fields.ForeignKeyRelation[OAuthClient] = fields.ForeignKeyField(
        "tenant.OAuthClient", related_name=False, on_delete=fields.CASCADE
    )
    client_id: int
    user_id = fields.IntField()
    redirect_uri = fields.TextField()
    scope = fields.TextField()
    code_challenge = fields.CharField(max_length=128)  # S256 only
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)  # claimed by compare-and-swap
    sid = fields.CharField(max_length=32, null=True)  # the family its redemption made

    class Meta:
        app = "tenant"
        table = "oauth_authorization_code"


class TokenFamily(Model):
    """One authorization of a user for a client: every token a code redemption and the
    refreshes after it issue. Its ``sid`` travels in the access tokens, so revoking the
    family makes them inactive at introspection."""

    id = fields.IntField(primary_key=True)
    sid = fields.CharField(max_length=32, unique=True)
    client: fields.ForeignKeyRelation[OAuthClient] = fields.ForeignKeyField(
        "tenant.OAuthClient", related_name=False, on_delete=fields.CASCADE
    )
    client_id: int
    user_id = fields.IntField()
    scope = fields.TextField()
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()  # absolute end: no refresh after it
    last_refreshed_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=32, null=True)

    class Meta:
        app = "tenant"
        table = "oauth_token_family"


class RefreshToken(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    family: fields.ForeignKeyRelation[TokenFamily] = fields.ForeignKeyField(
        "tenant.TokenFamily", related_name=False, on_delete=fields.CASCADE
    )
    family_id: int
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()  # idle end, never past the family's end
    used_at = fields.DatetimeField(null=True)  # rotated: presenting it again is reuse

    class Meta:
        app = "tenant"
        table = "oauth_refresh_token"


class RevokedAccessToken(Model):
    """An access token revoked before its expiry (RFC 7009), kept until it expires."""

    jti = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.DatetimeField()

    class Meta:
        app = "tenant"
        table = "oauth_revoked_access_token"


class KeyState(StrEnum):
    NEXT = "next"  # published in the JWKS, not signing yet
    CURRENT = "current"  # signs every new token
    RETIRED = "retired"  # published until its last token has expired


class SigningKey(Model):
    id = fields.IntField(primary_key=True)
    kid = fields.CharField(max_length=64, unique=True)
    state = fields.CharEnumField(KeyState, max_length=16)
    algorithm = fields.CharField(max_length=16)
    public_jwk: dict[str, str] = fields.JSONField()
    private_key = fields.TextField()  # PEM, sealed with the platform secret
    created_at = fields.DatetimeField()
    activated_at = fields.DatetimeField(null=True)
    retired_at = fields.DatetimeField(null=True)
    remove_after = fields.DatetimeField(null=True)  # retired: unpublished after this

    class Meta:
        app = "tenant"
        table = "oauth_signing_key"
