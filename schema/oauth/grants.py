"""Authorization codes, token families and refresh tokens: storage and the rules that
make them single-use.

- A code is claimed by a compare-and-swap (``UPDATE ... WHERE used_at IS NULL``, one row
  or none), in the transaction that creates the family its redemption starts: under
  concurrency exactly one redemption wins. A code presented again (while it is kept)
  revokes that family: the code leaked (RFC 6749 section 4.1.2).
- A refresh token is claimed the same way when it is rotated. Presenting one that was
  already rotated, including losing a race for it, is reuse: the whole family is revoked
  (the legitimate holder and the thief cannot be told apart).
- A family ends at ``expires_at`` (absolute), each refresh token after an idle period;
  a refresh for a user who is no longer active fails and revokes the family.

Everything runs inside ``tenant_scope()``; nothing here knows HTTP or authlib.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.identity.models import User, UserStatus
from schema.oauth.config import CODE_LIFETIME, oauth_config
from schema.oauth.models import (
    AuthorizationCode,
    ClientKind,
    ClientStatus,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
    TokenFamily,
)
from schema.oauth.tokens import AccessClaims
from tenants.backends import TENANT_ALIAS

# Used codes are kept this long after they expire, so that a replay still finds (and
# revokes) the family the first redemption made.
USED_CODE_RETENTION = timedelta(days=1)


def digest(secret: str) -> str:
    """SHA-256: the stored form of client secrets, codes and refresh tokens (256-bit
    random values: nothing to guess, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_sid() -> str:
    return secrets.token_hex(16)


def _now() -> datetime:
    return datetime.now(UTC)


class GrantRefused(Exception):
    """A code or refresh token that cannot be redeemed (``invalid_grant``)."""


@dataclass(frozen=True, slots=True)
class ClientView:
    """What the authorization server needs of a client: a snapshot, safe to hand to
    another thread."""

    pk: int
    client_id: str
    name: str
    kind: ClientKind
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    scopes: tuple[str, ...]
    merchant_id: int | None
    first_party: bool

    @classmethod
    def of(cls, row: OAuthClient) -> ClientView:
        return cls(
            pk=row.id,
            client_id=row.client_id,
            name=row.name,
            kind=ClientKind(row.kind),
            secret_hash=row.secret_hash,
            redirect_uris=tuple(row.redirect_uris),
            grant_types=frozenset(row.grant_types),
            scopes=tuple(row.scopes),
            merchant_id=row.merchant_id,
            first_party=row.first_party,
        )

    @property
    def target(self) -> str:
        return f"OAuthClient:{self.pk}"


async def find_client(client_id: str) -> ClientView | None:
    """An active client by its public id; disabled and unknown ones are None alike."""
    if not client_id or len(client_id) > 64:
        return None
    row = await OAuthClient.get_or_none(client_id=client_id, status=ClientStatus.ACTIVE)
    return ClientView.of(row) if row else None


@dataclass(frozen=True, slots=True)
class GrantUser:
    """The resource owner of a grant, and the family its tokens belong to (none yet
    while a code is being issued)."""

    user_id: int
    merchant_id: int | None
    sid: str | None = None

    def get_user_id(self) -> int:  # what authlib asks of a user
        return self.user_id


async def active_user(user_id: int, sid: str | None = None) -> GrantUser | None:
    """The user as the owner of family ``sid``, or None when not (or no longer) active."""
    user = await User.get_or_none(id=user_id, status=UserStatus.ACTIVE)
    return GrantUser(user.id, user.merchant_id, sid) if user else None


# --- authorization codes --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeGrant:
    pk: int
    client_pk: int
    user_id: int
    redirect_uri: str
    scope: str
    code_challenge: str


async def save_code(
    code: str,
    *,
    client: ClientView,
    user_id: int,
    redirect_uri: str,
    scope: str,
    code_challenge: str,
) -> None:
    now = _now()
    await AuthorizationCode.create(
        code_hash=digest(code),
        client_id=client.pk,
        user_id=user_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=code_challenge,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )


async def find_code(code: str, client: ClientView) -> CodeGrant | None:
    """The unused, unexpired code issued to ``client``. A used one is a replay: the
    family its first redemption made is revoked."""
    row = await AuthorizationCode.get_or_none(code_hash=digest(code), client_id=client.pk)
    if row is None:
        return None
    if row.used_at is not None:
        await revoke_family(row.sid, "code_replayed")
        return None
    if row.expires_at <= _now():
        return None
    return CodeGrant(
        row.id, row.client_id, row.user_id, row.redirect_uri, row.scope, row.code_challenge
    )


@dataclass(frozen=True, slots=True)
class Issue:
    """What a token response carries, for storage and the audit trail (never a value
    that grants access: refresh tokens are stored as digests)."""

    client: ClientView
    grant_type: str
    scope: str
    token_id: str
    user: GrantUser | None = None
    refresh_token: str | None = None


async def redeem_code(code: CodeGrant, issue: Issue) -> None:
    """Claim ``code`` and record the family (and refresh token) it starts, in one
    transaction; the loser of a race, or a late replay, revokes what the winner got."""
    user = issue.user
    assert user is not None
    assert user.sid is not None
    config = oauth_config()
    now = _now()
    async with in_transaction(TENANT_ALIAS):
        claimed = await AuthorizationCode.filter(id=code.pk, used_at=None).update(
            used_at=now, sid=user.sid
        )
        if claimed:
            lifetime = (
                config.refresh_max_lifetime if issue.refresh_token else config.access_token_lifetime
            )
            family = await TokenFamily.create(
                sid=user.sid,
                client_id=code.client_pk,
                user_id=code.user_id,
                scope=code.scope,
                created_at=now,
                expires_at=now + lifetime,
            )
            await _store_refresh_token(family, issue.refresh_token, now)
            await _record_issue(issue)
    if not claimed:
        row = await AuthorizationCode.get(id=code.pk)
        await revoke_family(row.sid, "code_replayed")
        raise GrantRefused("the code was already used")


# --- refresh tokens -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    pk: int
    family_pk: int
    sid: str
    client_pk: int
    user_id: int
    scope: str  # the family's: what the user granted


async def find_refresh_token(token: str) -> RefreshGrant | None:
    """A live refresh token. One already rotated is reuse: its family is revoked."""
    row = await RefreshToken.get_or_none(token_hash=digest(token)).select_related("family")
    if row is None:
        return None
    family: TokenFamily = row.family
    if row.used_at is not None:
        await revoke_family(family.sid, "refresh_token_reused")
        return None
    now = _now()
    if family.revoked_at is not None or family.expires_at <= now or row.expires_at <= now:
        return None
    return RefreshGrant(
        row.id, family.id, family.sid, family.client_id, family.user_id, family.scope
    )


async def rotate_refresh_token(old: RefreshGrant, issue: Issue) -> None:
    """Claim ``old`` and store its successor in one transaction. Losing the claim is
    reuse: the family is revoked and nothing is issued."""
    now = _now()
    async with in_transaction(TENANT_ALIAS):
        claimed = await RefreshToken.filter(id=old.pk, used_at=None).update(used_at=now)
        family = await TokenFamily.get(id=old.family_pk)
        live = claimed and family.revoked_at is None
        if live:
            family.last_refreshed_at = now
            await family.save(update_fields=["last_refreshed_at"])
            await _store_refresh_token(family, issue.refresh_token, now)
            await _record_issue(issue)
    if not live:
        await revoke_family(old.sid, "refresh_token_reused")
        raise GrantRefused("the refresh token was already used")


async def _store_refresh_token(family: TokenFamily, token: str | None, now: datetime) -> None:
    if token is None:
        return
    idle_end = now + oauth_config().refresh_idle_lifetime
    await RefreshToken.create(
        token_hash=digest(token),
        family_id=family.id,
        created_at=now,
        expires_at=min(idle_end, family.expires_at),
    )


async def _record_issue(issue: Issue) -> None:
    targets = [issue.client.target]
    if issue.user is not None:
        targets.append(f"User:{issue.user.user_id}")
    await record(
        "tokenIssue",
        targets=targets,
        summary={  # no key naming a token: the trail redacts those
            "grant_type": issue.grant_type,
            "scope": issue.scope,
            "jti": issue.token_id,
            "sid": issue.user.sid if issue.user else None,
            "refreshable": issue.refresh_token is not None,
        },
    )


async def record_client_token(issue: Issue) -> None:
    """Client credentials: nothing to store, only the audit record."""
    await _record_issue(issue)


# --- revocation and liveness ----------------------------------------------------------


async def revoke_family(sid: str | None, reason: str) -> bool:
    """End a family: its refresh tokens stop working and its access tokens are inactive
    at introspection. True when this call revoked it."""
    if sid is None:
        return False
    revoked = await TokenFamily.filter(sid=sid, revoked_at=None).update(
        revoked_at=_now(), revoked_reason=reason
    )
    if revoked:
        await record(
            "tokenFamilyRevoke", targets=[f"TokenFamily:{sid}"], summary={"reason": reason}
        )
    return bool(revoked)


async def revoke_client_families(client_pk: int, reason: str) -> int:
    return await TokenFamily.filter(client_id=client_pk, revoked_at=None).update(
        revoked_at=_now(), revoked_reason=reason
    )


async def revoke_access_token(claims: AccessClaims) -> None:
    await RevokedAccessToken.get_or_create(
        jti=claims.token_id, defaults={"expires_at": claims.expires_at}
    )


async def access_token_live(claims: AccessClaims) -> bool:
    """Beyond its signature and dates: its client active, not revoked itself, its family
    not revoked, its user active (what introspection answers)."""
    if await find_client(claims.client_id) is None:
        return False
    if await RevokedAccessToken.exists(jti=claims.token_id):
        return False
    if claims.session_id is not None:
        family = await TokenFamily.get_or_none(sid=claims.session_id)
        if family is None or family.revoked_at is not None:
            return False
    return claims.user_id is None or await User.exists(id=claims.user_id, status=UserStatus.ACTIVE)


@dataclass(frozen=True, slots=True)
class RefreshTokenInfo:
    client_id: str
    user_id: int
    scope: str
    sid: str
    expires_at: datetime
    issued_at: datetime
    active: bool


async def refresh_token_info(token: str) -> RefreshTokenInfo | None:
    """A refresh token as introspection and revocation see it (no reuse detection: a
    resource server looking at a token is not redeeming it)."""
    row = await RefreshToken.get_or_none(token_hash=digest(token)).select_related(
        "family", "family__client"
    )
    if row is None:
        return None
    family: TokenFamily = row.family
    client: OAuthClient = family.client
    now = _now()
    active = (
        row.used_at is None
        and family.revoked_at is None
        and row.expires_at > now
        and family.expires_at > now
        and client.status == ClientStatus.ACTIVE
    )
    return RefreshTokenInfo(
        client.client_id,
        family.user_id,
        family.scope,
        family.sid,
        min(row.expires_at, family.expires_at),
        row.created_at,
        active,
    )


async def purge_expired() -> int:
    """Delete what can no longer be used nor detected as replayed: codes a day after
    they expired, families (and their refresh tokens) once over, revoked access tokens
    once expired. Returns how many rows went."""
    now = _now()
    codes = await AuthorizationCode.filter(expires_at__lt=now - USED_CODE_RETENTION).delete()
    # A refresh token never outlives its family: gone before the family, no cascade needed.
    tokens = await RefreshToken.filter(expires_at__lt=now).delete()
    families = await TokenFamily.filter(expires_at__lt=now).delete()
    revoked = await RevokedAccessToken.filter(expires_at__lt=now).delete()
    return codes + tokens + families + revoked
