"""Single-use, expiring tokens mailed to users (email verification, password reset,
change of email).

A token is 32 random bytes (URL-safe base64); only its SHA-256 is stored, so a leaked
table redeems nothing. A user holds at most one unused token per purpose: issuing a new
one drops the old. Redeeming is one conditional UPDATE (``used_at IS NULL AND
expires_at > now``) inside the caller's transaction: of two concurrent redemptions the
row lock lets exactly one through, and the other sees the token used.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schema.core.errors import fail
from schema.identity.models import TokenPurpose, User, UserToken
from schema.identity.validation import Code

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100  # what is looked up at all; real tokens have 43 characters
LIFETIMES = {
    TokenPurpose.VERIFY_EMAIL: timedelta(hours=48),
    TokenPurpose.RESET_PASSWORD: timedelta(hours=1),
    TokenPurpose.CHANGE_EMAIL: timedelta(hours=24),
}
SET_PASSWORD_LIFETIME = timedelta(days=7)  # a new user's first password: a reset token


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(
    user: User,
    purpose: TokenPurpose,
    *,
    new_email: str | None = None,
    lifetime: timedelta | None = None,
) -> IssuedToken:
    """A fresh token for ``user``, replacing any unused one of the same purpose. Call it
    inside the transaction that sends the mail."""
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + (lifetime or LIFETIMES[purpose])
    await UserToken.filter(user_id=user.id, purpose=purpose, used_at=None).delete()
    await UserToken.create(
        user_id=user.id,
        purpose=purpose,
        token_hash=digest(token),
        new_email=new_email,
        created_at=now,
        expires_at=expires_at,
    )
    return IssuedToken(token, expires_at)


async def issued_since(user_id: int, purpose: TokenPurpose, since: datetime) -> bool:
    """Whether an unused token of ``purpose`` was issued after ``since``: a request made
    again within a minute sends no second mail."""
    return await UserToken.exists(
        user_id=user_id, purpose=purpose, used_at=None, created_at__gt=since
    )


def _refusal(row: UserToken | None) -> Exception:
    if row is None:
        return fail("token", Code.TOKEN_INVALID, "this link or code is not valid")
    if row.used_at is not None:
        return fail("token", Code.TOKEN_USED, "this link or code was used already")
    return fail("token", Code.TOKEN_EXPIRED, "this link or code has expired: ask for a new one")


async def _find(token: str, purpose: TokenPurpose) -> UserToken | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return await UserToken.get_or_none(token_hash=digest(token), purpose=purpose)


async def peek(token: str, purpose: TokenPurpose) -> UserToken:
    """The token's row if it could be redeemed now, without redeeming it (to check the
    rest of a request first); raises the typed refusal otherwise."""
    row = await _find(token, purpose)
    if row is None or row.used_at is not None or row.expires_at <= datetime.now(UTC):
        raise _refusal(row)
    return row


async def redeem(token: str, purpose: TokenPurpose) -> UserToken:
    """Mark the token used, atomically, in the caller's transaction; raises the typed
    refusal when it is unknown, used or expired."""
    now = datetime.now(UTC)
    claimed = 0
    if token and len(token) <= MAX_TOKEN_LENGTH:
        claimed = await UserToken.filter(
            token_hash=digest(token), purpose=purpose, used_at=None, expires_at__gt=now
        ).update(used_at=now)
    row = await _find(token, purpose)
    if not claimed or row is None:
        raise _refusal(row)
    return row


async def drop(user_id: int, purpose: TokenPurpose | None = None) -> None:
    """Drop the user's unused tokens (of ``purpose``, or all of them)."""
    query = UserToken.filter(user_id=user_id, used_at=None)
    await (query if purpose is None else query.filter(purpose=purpose)).delete()
