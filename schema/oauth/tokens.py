"""Access tokens: JWTs per RFC 9068, signed RS256 with the tenant's current key.

Claims: ``iss`` (the tenant's issuer, ``{SAAS_PUBLIC_URL}/t/{slug}``), ``aud`` (the
tenant's GraphQL API, ``{issuer}/graphql``), ``sub`` (the user's id, or the client's id
for client credentials), ``client_id``, ``scope``, ``tenant`` (the tenant's id), ``jti``,
``iat``, ``nbf``, ``exp``, and when they apply ``merchant_id`` and ``sid`` (the token
family: revoking it makes its access tokens inactive at introspection). Roles are not in
the token: the edge narrows the user's current roles by the token's scope per request.

``verify_access_token`` is the resource server's check (the GraphQL edge calls it on
every request): it needs no database round trip once the tenant's keys are cached.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jwt

from schema.oauth import keys
from schema.oauth.config import LEEWAY, oauth_config
from tenants.records import TenantRecord
from tenants.scope import current_tenant

ACCESS_TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 section 4
MAX_TOKEN_LENGTH = 8192


class InvalidToken(Exception):
    """A token that must not be honoured; ``reason`` says which check refused it (for
    logs and tests: clients get one generic answer)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    user_id: int | None  # None: a client acting as itself (client credentials)
    client_id: str
    scopes: frozenset[str]
    token_id: str  # jti
    expires_at: datetime
    merchant_id: int | None
    session_id: str | None = None  # sid: the token family, for user tokens
    issued_at: datetime | None = None


def new_token_id() -> str:
    return secrets.token_urlsafe(16)


def access_claims(
    tenant: TenantRecord,
    *,
    client_id: str,
    user_id: int | None,
    scope: str,
    merchant_id: int | None = None,
    session_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    config = oauth_config()
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": config.issuer(tenant.slug),
        "aud": config.audience(tenant.slug),
        "sub": client_id if user_id is None else str(user_id),
        "client_id": client_id,
        "scope": scope,
        "tenant": tenant.id,
        "jti": new_token_id(),
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(config.access_token_lifetime.total_seconds()),
    }
    if merchant_id is not None:
        claims["merchant_id"] = merchant_id
    if session_id is not None:
        claims["sid"] = session_id
    return claims


async def sign_access_token(claims: dict[str, Any]) -> str:
    """Signed with the current tenant's current key, always naming it in ``kid``."""
    signer = await keys.current_signer()
    header = {"alg": keys.ALGORITHM, "typ": ACCESS_TOKEN_TYPE, "kid": signer.kid}
    return jwt.encode(header, claims, signer.key, algorithms=[keys.ALGORITHM])


async def verify_access_token(tenant: TenantRecord, token: str) -> AccessClaims:
    """The claims of a valid access token of ``tenant`` (inside its ``tenant_scope``),
    or ``InvalidToken``. Only RS256 with a key of this tenant, ``typ`` at+jwt, this
    tenant's issuer, audience and ``tenant`` claim, within its validity (``LEEWAY``).

    The signature is checked with cryptography directly (what joserfc calls underneath,
    a third cheaper without its registry and header handling): the algorithm is fixed
    before any key is looked up, and the key is one of this tenant's RSA keys."""
    if current_tenant().id != tenant.id:
        raise RuntimeError("verify_access_token must run inside the token's tenant scope")
    segments = token.split(".")
    if len(token) > MAX_TOKEN_LENGTH or len(segments) != 3:
        raise InvalidToken("malformed", "not a JWS compact serialization of a sane size")
    header = _header(segments[0])
    key = await keys.verification_key(header["kid"])
    if key is None:
        raise InvalidToken("unknown_key", "no published key has this kid")
    try:
        signed = f"{segments[0]}.{segments[1]}".encode("ascii")
        key.verify(_decode(segments[2]), signed, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise InvalidToken("signature", "the signature does not verify") from None
    claims = _segment(segments[1])
    if not isinstance(claims, dict):
        raise InvalidToken("malformed", "the claims are not an object")
    return _check_claims(tenant, claims, time.time())


def token_id_of(token: str) -> str:
    """The ``jti`` of an access token this process has just signed (read, not verified:
    for the records kept about it)."""
    return str(_segment(token.split(".")[1])["jti"])


def _decode(segment: str) -> bytes:
    """Strict base64url: characters outside the alphabet are an error, not skipped."""
    return base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)


def _segment(raw: str) -> Any:
    try:
        return orjson.loads(_decode(raw))
    except (ValueError, binascii.Error):
        raise InvalidToken("malformed", "not a JWS compact serialization") from None


def _header(raw: str) -> dict[str, Any]:
    header = _segment(raw)
    if not isinstance(header, dict):
        raise InvalidToken("malformed", "the header is not an object")
    # Checked before any key is touched: "none", HS256 keyed with the public key and
    # every other algorithm are refused by name.
    if header.get("alg") != keys.ALGORITHM:
        raise InvalidToken("algorithm", f"only {keys.ALGORITHM} is accepted")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
        raise InvalidToken("type", "typ must be at+jwt")
    if "crit" in header:
        raise InvalidToken("malformed", "no critical header extension is understood")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= 64:
        raise InvalidToken("unknown_key", "kid is missing")
    return header


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("claims", f"{name} is missing or not a number")
    return float(value)


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken("claims", f"{name} is missing or not a string")
    return value


def _check_claims(tenant: TenantRecord, claims: dict[str, Any], now: float) -> AccessClaims:
    config = oauth_config()
    leeway = LEEWAY.total_seconds()
    if claims.get("iss") != config.issuer(tenant.slug):
        raise InvalidToken("issuer", "not issued by this tenant")
    audience = claims.get("aud")
    expected = config.audience(tenant.slug)
    if not (audience == expected or (isinstance(audience, list) and expected in audience)):
        raise InvalidToken("audience", "not meant for this API")
    if claims.get("tenant") != tenant.id:
        raise InvalidToken("tenant", "a token of another tenant")
    expires = _number(claims, "exp")
    issued = _number(claims, "iat")
    if now > expires + leeway:
        raise InvalidToken("expired", "the token has expired")
    not_before = _number(claims, "nbf") if "nbf" in claims else issued
    if now + leeway < not_before or now + leeway < issued:
        raise InvalidToken("not_yet_valid", "the token is not valid yet")
    subject, client_id = _string(claims, "sub"), _string(claims, "client_id")
    scope = claims.get("scope", "")
    merchant_id = claims.get("merchant_id")
    session_id = claims.get("sid")
    if not isinstance(scope, str) or not (merchant_id is None or type(merchant_id) is int):
        raise InvalidToken("claims", "scope or merchant_id has the wrong type")
    if not (session_id is None or isinstance(session_id, str)):
        raise InvalidToken("claims", "sid has the wrong type")
    user_id = None
    if subject != client_id:
        if not (subject.isascii() and subject.isdigit()):
            raise InvalidToken("claims", "sub is neither a user id nor the client")
        user_id = int(subject)
    return AccessClaims(
        subject=subject,
        user_id=user_id,
        client_id=client_id,
        scopes=frozenset(scope.split()),
        token_id=_string(claims, "jti"),
        expires_at=datetime.fromtimestamp(expires, UTC),
        merchant_id=merchant_id,
        session_id=session_id,
        issued_at=datetime.fromtimestamp(issued, UTC),
    )
