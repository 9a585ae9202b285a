"""Registering OAuth clients: validation, secrets shown once, state changes, audit.

- Public clients (mobile and browser apps) have no secret and use the authorization
  code grant (with PKCE, always) and refresh tokens only.
- Confidential clients (servers) get a secret, returned once by ``create_client`` and
  ``rotate_secret`` and stored as a SHA-256 digest; they may use client credentials.
- Redirect URIs are matched as exact strings: https, http on a loopback host (RFC 8252
  section 7.3), or a native app's private-use scheme (``com.example.app:/cb``, public
  clients only); never a fragment or a wildcard.
- Allowed scopes are catalog permissions or patterns, plus ``offline_access`` for
  clients that may refresh.

Permission checks are the API's; this module only keeps the rules.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.errors import DomainError, FieldError, fail, raise_if_any
from schema.oauth.grants import digest, new_secret, revoke_client_families
from schema.oauth.models import ClientKind, ClientStatus, GrantType, OAuthClient
from schema.oauth.scopes import OFFLINE_ACCESS, is_registrable
from tenants.backends import TENANT_ALIAS

MAX_NAME = 200
MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2000
MAX_SCOPES = 100
MAX_REASON = 500
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
PUBLIC_GRANTS = frozenset({GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN})


class Code:
    """The codes of the errors this module raises (each mutation's enum lists its own)."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_ALLOWED = "NOT_ALLOWED"
    UNKNOWN_SCOPE = "UNKNOWN_SCOPE"
    TOO_MANY = "TOO_MANY"
    NOT_FOUND = "NOT_FOUND"
    NOTHING_TO_CHANGE = "NOTHING_TO_CHANGE"
    NOT_CONFIDENTIAL = "NOT_CONFIDENTIAL"
    ALREADY_DISABLED = "ALREADY_DISABLED"
    ALREADY_ACTIVE = "ALREADY_ACTIVE"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What a client is registered with; None leaves a field as it is (updates)."""

    name: str | None = None
    redirect_uris: Sequence[str] | None = None
    grant_types: Sequence[GrantType] | None = None
    scopes: Sequence[str] | None = None
    first_party: bool | None = None

    def given(self) -> dict[str, Any]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


@dataclass(frozen=True, slots=True)
class NewClient:
    kind: ClientKind
    settings: ClientSettings
    merchant_id: int | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    client: OAuthClient
    secret: str | None  # shown once: confidential clients, on creation and rotation


def _error(field: str, code: str, message: str) -> FieldError:
    return FieldError((field,), code, message)


def _check_redirect_uri(uri: str, kind: ClientKind, index: int) -> FieldError | None:
    field = f"redirectUris.{index}"
    if len(uri) > MAX_REDIRECT_URI_LENGTH or any(c.isspace() for c in uri) or "*" in uri:
        return _error("redirectUris", Code.INVALID, f"{field}: not an exact URI")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return _error("redirectUris", Code.INVALID, f"{field}: not a URI")
    if parts.fragment or "#" in uri:
        return _error("redirectUris", Code.INVALID, f"{field}: must not have a fragment")
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    private_use = "." in parts.scheme and not parts.netloc and parts.path.startswith("/")
    if private_use and kind is ClientKind.PUBLIC:
        return None
    return _error(
        "redirectUris",
        Code.NOT_ALLOWED,
        f"{field}: use https, http on a loopback address, or (public clients) a "
        "reverse-domain scheme such as com.example.app:/callback",
    )


def _clean_redirect_uris(
    uris: Sequence[str], kind: ClientKind, errors: list[FieldError]
) -> list[str]:
    cleaned = list(dict.fromkeys(u.strip() for u in uris))
    if len(cleaned) > MAX_REDIRECT_URIS:
        errors.append(_error("redirectUris", Code.TOO_MANY, f"at most {MAX_REDIRECT_URIS}"))
        return cleaned
    errors.extend(e for i, u in enumerate(cleaned) if (e := _check_redirect_uri(u, kind, i)))
    return cleaned


def _clean_scopes(scopes: Sequence[str], errors: list[FieldError]) -> list[str]:
    cleaned = list(dict.fromkeys(s.strip() for s in scopes))
    if len(cleaned) > MAX_SCOPES:
        errors.append(_error("scopes", Code.TOO_MANY, f"at most {MAX_SCOPES} scopes"))
        return cleaned
    unknown = [s for s in cleaned if not is_registrable(s)]
    if unknown:
        listed = ", ".join(u[:60] for u in unknown[:5])
        errors.append(_error("scopes", Code.UNKNOWN_SCOPE, f"unknown scopes: {listed}"))
    return cleaned


def _check_grants(
    kind: ClientKind, grants: set[GrantType], uris: list[str], scopes: list[str]
) -> list[FieldError]:
    """The rules between kind, grant types, redirect URIs and offline_access."""
    errors = []
    if not grants:
        errors.append(_error("grantTypes", Code.REQUIRED, "at least one grant type"))
    if kind is ClientKind.PUBLIC and not grants <= PUBLIC_GRANTS:
        errors.append(
            _error("grantTypes", Code.NOT_ALLOWED, "a public client cannot use client credentials")
        )
    code_flow = GrantType.AUTHORIZATION_CODE in grants
    if GrantType.REFRESH_TOKEN in grants and not code_flow:
        errors.append(
            _error("grantTypes", Code.NOT_ALLOWED, "refresh tokens come from the code grant")
        )
    if code_flow and not uris:
        errors.append(_error("redirectUris", Code.REQUIRED, "the code grant needs a redirect URI"))
    if uris and not code_flow:
        errors.append(
            _error("redirectUris", Code.NOT_ALLOWED, "only the code grant uses redirect URIs")
        )
    if OFFLINE_ACCESS in scopes and GrantType.REFRESH_TOKEN not in grants:
        errors.append(
            _error("scopes", Code.NOT_ALLOWED, "offline_access needs the refresh_token grant")
        )
    return errors


def _validated(kind: ClientKind, merged: dict[str, Any]) -> dict[str, Any]:
    """Every field checked at once; DomainError with all problems, or the clean values."""
    errors: list[FieldError] = []
    name = merged["name"].strip()
    if not 1 <= len(name) <= MAX_NAME:
        errors.append(_error("name", Code.INVALID, f"name must be 1-{MAX_NAME} characters"))
    uris = _clean_redirect_uris(merged["redirect_uris"], kind, errors)
    scopes = _clean_scopes(merged["scopes"], errors)
    grants = {GrantType(g) for g in merged["grant_types"]}
    errors.extend(_check_grants(kind, grants, uris, scopes))
    raise_if_any(errors)
    ordered = [g.value for g in GrantType if g in grants]
    return {
        "name": name,
        "redirect_uris": uris,
        "grant_types": ordered,
        "scopes": scopes,
        "first_party": bool(merged["first_party"]),
    }


def _summary(row: OAuthClient) -> dict[str, Any]:
    """The audit trail's picture of a client: never its secret or digest."""
    return {
        "client_id": row.client_id,
        "name": row.name,
        "kind": str(row.kind),
        "redirect_uris": list(row.redirect_uris),
        "grant_types": list(row.grant_types),
        "scopes": list(row.scopes),
        "merchant_id": row.merchant_id,
        "first_party": row.first_party,
        "status": str(row.status),
    }


def new_client_id() -> str:
    """Random and public; never all digits, so it cannot pass for a user id in ``sub``."""
    return "c_" + secrets.token_urlsafe(18)


async def create_client(new: NewClient) -> Registered:
    defaults = {
        "name": "",
        "redirect_uris": [],
        "grant_types": [],
        "scopes": [],
        "first_party": False,
    }
    errors = []
    if new.merchant_id is not None and new.merchant_id <= 0:
        errors.append(_error("merchantId", Code.INVALID, "not a merchant id"))
    try:
        values = _validated(new.kind, {**defaults, **new.settings.given()})
    except DomainError as exc:
        raise DomainError(errors + exc.errors) from None
    raise_if_any(errors)
    secret = new_secret() if new.kind is ClientKind.CONFIDENTIAL else None
    async with in_transaction(TENANT_ALIAS):
        row = await OAuthClient.create(
            client_id=new_client_id(),
            kind=new.kind,
            secret_hash=digest(secret) if secret else None,
            merchant_id=new.merchant_id,
            **values,
        )
        await record("oauthClientCreate", targets=[_target(row)], summary=_summary(row))
    return Registered(row, secret)


def _target(row: OAuthClient) -> str:
    return f"OAuthClient:{row.id}"


async def get_client(pk: int) -> OAuthClient | None:
    return await OAuthClient.get_or_none(id=pk)


async def _existing(pk: int, *, lock: bool = False) -> OAuthClient:
    query = OAuthClient.filter(id=pk)
    row = await (query.select_for_update() if lock else query).first()
    if row is None:
        raise DomainError([_error("id", Code.NOT_FOUND, "no such OAuth client")])
    return row


async def update_client(pk: int, changes: ClientSettings) -> OAuthClient:
    """Change what was given; the kind and the merchant of a client never change."""
    given = changes.given()
    if not given:
        raise fail((), Code.NOTHING_TO_CHANGE, "nothing to change")
    async with in_transaction(TENANT_ALIAS):
        row = await _existing(pk, lock=True)
        before = _summary(row)
        current = {f: getattr(row, f) for f in ("name", "redirect_uris", "grant_types", "scopes")}
        values = _validated(
            ClientKind(row.kind), {**current, "first_party": row.first_party, **given}
        )
        for field, value in values.items():
            setattr(row, field, value)
        await row.save()
        after = _summary(row)
        changed = {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
        await record("oauthClientUpdate", targets=[_target(row)], summary=changed)
    return row


async def rotate_secret(pk: int) -> Registered:
    """A new secret (the old one stops working at once), shown once."""
    secret = new_secret()
    async with in_transaction(TENANT_ALIAS):
        row = await _existing(pk, lock=True)
        if row.kind != ClientKind.CONFIDENTIAL:
            raise DomainError(
                [_error("id", Code.NOT_CONFIDENTIAL, "a public client has no secret")]
            )
        row.secret_hash = digest(secret)
        row.secret_rotated_at = datetime.now(UTC)
        await row.save(update_fields=["secret_hash", "secret_rotated_at", "updated_at"])
        await record("oauthClientSecretRotate", targets=[_target(row)], summary={})
    return Registered(row, secret)


async def disable_client(pk: int, reason: str | None = None) -> OAuthClient:
    """No new tokens, its refresh tokens revoked, its access tokens inactive at
    introspection (they expire within minutes)."""
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise DomainError([_error("reason", Code.INVALID, f"at most {MAX_REASON} characters")])

    async def revoke(row: OAuthClient) -> dict[str, Any]:
        revoked = await revoke_client_families(row.id, "client_disabled")
        return {"reason": reason, "families_revoked": revoked}

    return await _set_status(pk, ClientStatus.DISABLED, Code.ALREADY_DISABLED, revoke)


async def enable_client(pk: int) -> OAuthClient:
    return await _set_status(pk, ClientStatus.ACTIVE, Code.ALREADY_ACTIVE)


async def _set_status(
    pk: int,
    to: ClientStatus,
    already: str,
    effects: Callable[[OAuthClient], Awaitable[dict[str, Any]]] | None = None,
) -> OAuthClient:
    """The transition to ``to`` (refused when already there), its ``effects`` and its
    audit record, in one transaction."""
    async with in_transaction(TENANT_ALIAS):
        row = await _existing(pk, lock=True)
        if row.status == to:
            raise DomainError([_error("id", already, f"the client is already {to}")])
        row.status = to
        await row.save(update_fields=["status", "updated_at"])
        summary = await effects(row) if effects else {}
        operation = "oauthClientDisable" if to is ClientStatus.DISABLED else "oauthClientEnable"
        await record(operation, targets=[_target(row)], summary=summary)
    return row
