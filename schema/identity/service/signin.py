"""Signing in with email and password, with brute-force protection.

Every attempt is recorded (``sign_in_attempt``) with its outcome. Three brakes:

- per source address: more than ``ADDRESS_MAX_FAILURES`` failed attempts from one
  address within ``ADDRESS_WINDOW`` refuses further attempts from it (THROTTLED) before
  any password is checked;
- per account: from the tenant policy's ``throttle_after_failures`` consecutive failures
  on, the next attempt is not even checked until a wait has passed that doubles with each
  failure (``ACCOUNT_BASE_DELAY`` up to ``ACCOUNT_MAX_DELAY``);
- lock-out: at ``lockout_after_failures`` consecutive failures the account is locked
  and mailed; only an administrator unlocks it (``unlock``).

An unknown email costs a verification against a dummy hash, like a known one. What the
codes reveal: LOCKED and THROTTLED only occur for existing accounts, after many failures
that the other brakes bound; DEACTIVATED and EMAIL_NOT_VERIFIED only after the right
password.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.errors import FieldError, fail, raise_if_any
from schema.identity.models import IdentityPolicy, SignInAttempt, User, UserStatus
from schema.identity.passwords import (
    dummy_hash,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from schema.identity.policy import get_policy
from schema.identity.service.mail import send_mail
from schema.identity.validation import (
    MAX_EMAIL_LENGTH,
    Code,
    clean_reason,
    lookup_email,
)
from tenants.backends import TENANT_ALIAS

ADDRESS_WINDOW = timedelta(minutes=15)
ADDRESS_MAX_FAILURES = 50
ACCOUNT_BASE_DELAY = timedelta(seconds=1)
ACCOUNT_MAX_DELAY = timedelta(minutes=5)
MAX_ADDRESS_LENGTH = 64
SUCCESS = "SUCCESS"


class SignInCode(StrEnum):
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    THROTTLED = "THROTTLED"
    LOCKED = "LOCKED"
    DEACTIVATED = "DEACTIVATED"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"


# Outcomes that count against a source address: wrong guesses, and knocking on a locked
# account. A right password on a deactivated or unverified account is no guess.
_ADDRESS_FAILURES = (SignInCode.INVALID_CREDENTIALS, SignInCode.LOCKED)

_MESSAGES = {
    SignInCode.INVALID_CREDENTIALS: "wrong email or password",
    SignInCode.THROTTLED: "too many failed sign-ins: wait before trying again",
    SignInCode.LOCKED: "this account is locked after too many failed sign-ins; "
    "an administrator can unlock it",
    SignInCode.DEACTIVATED: "this account is deactivated",
    SignInCode.EMAIL_NOT_VERIFIED: "confirm your email address before signing in",
}


class SignInRefused(Exception):
    """Why a sign-in was refused. ``retry_after`` is set for THROTTLED."""

    def __init__(
        self, code: SignInCode, message: str | None = None, *, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(message or _MESSAGES[code])
        self.code = code
        self.message = message or _MESSAGES[code]
        self.retry_after = retry_after


def account_delay(failures: int, throttle_after: int) -> timedelta:
    """How long an account waits after ``failures`` consecutive failures."""
    if failures < throttle_after:
        return timedelta(0)
    doublings = min(failures - throttle_after, 30)  # 2**30 s is past any cap
    return min(ACCOUNT_BASE_DELAY * 2**doublings, ACCOUNT_MAX_DELAY)


async def _address_wait(address: str, now: datetime) -> timedelta:
    """How long ``address`` must wait: until its oldest failure of the last
    ``ADDRESS_MAX_FAILURES`` leaves the window; zero while under the limit."""
    oldest_counted = (
        await SignInAttempt.filter(
            source_address=address,
            outcome__in=_ADDRESS_FAILURES,
            attempted_at__gt=now - ADDRESS_WINDOW,
        )
        .order_by("-attempted_at")
        .offset(ADDRESS_MAX_FAILURES - 1)
        .first()
    )
    if oldest_counted is None:
        return timedelta(0)
    return oldest_counted.attempted_at + ADDRESS_WINDOW - now


def _account_wait(user: User, policy: IdentityPolicy, now: datetime) -> timedelta:
    delay = account_delay(user.failed_sign_ins, policy.throttle_after_failures)
    # No delay is no wait, even when a concurrent attempt that began after this one
    # has already recorded its failure (its time is later than this attempt's ``now``).
    if user.last_failed_sign_in_at is None or not delay:
        return timedelta(0)
    return max(user.last_failed_sign_in_at + delay - now, timedelta(0))


class _Attempt:
    """One sign-in attempt: who was tried from where, recorded once with its outcome."""

    def __init__(self, email: str, address: str | None, operation: str = "signIn") -> None:
        self.tried = (lookup_email(email) or email.strip().lower())[:MAX_EMAIL_LENGTH]
        self.address = address[:MAX_ADDRESS_LENGTH] if address else None
        self.operation = operation
        self.now = datetime.now(UTC)

    async def record(self, outcome: str, user: User | None) -> None:
        """The attempt row and its audit record (in the caller's transaction, if any)."""
        user_id = user.id if user else None
        await SignInAttempt.create(
            email=self.tried,
            user_id=user_id,
            source_address=self.address,
            outcome=outcome,
            attempted_at=self.now,
        )
        await record(
            self.operation,
            targets=[f"User:{user_id}"] if user_id else [],
            outcome="success" if outcome == SUCCESS else outcome,
            summary={"email": self.tried},
        )

    async def refuse(
        self, code: SignInCode, user: User | None, retry_after: timedelta | None = None
    ) -> SignInRefused:
        async with in_transaction(TENANT_ALIAS):
            await self.record(code, user)
        return SignInRefused(code, retry_after=retry_after)


async def _count_failure(attempt: _Attempt, user: User, policy: IdentityPolicy) -> SignInCode:
    """Add a failure to the account; lock it (and mail the owner) at the threshold. The
    increment takes the row lock, so two failures at once cannot both lock it."""
    async with in_transaction(TENANT_ALIAS):
        await User.filter(id=user.id).update(
            failed_sign_ins=F("failed_sign_ins") + 1, last_failed_sign_in_at=attempt.now
        )
        fresh = await User.get(id=user.id)
        # Locked meanwhile by a concurrent failure: this guess came too late as well.
        code = SignInCode.INVALID_CREDENTIALS if fresh.locked_at is None else SignInCode.LOCKED
        if fresh.locked_at is None and fresh.failed_sign_ins >= policy.lockout_after_failures:
            await User.filter(id=user.id).update(locked_at=attempt.now)
            await send_mail(fresh, "account_locked", failures=fresh.failed_sign_ins)
            await record(
                "userLock", targets=[f"User:{user.id}"], summary={"failures": fresh.failed_sign_ins}
            )
            code = SignInCode.LOCKED
        await attempt.record(code, user)
    return code


async def _succeed(attempt: _Attempt, user: User, password: str, *, sign_in: bool) -> User:
    """Clear the failures, note the sign-in (``sign_in``) and, when the hashing
    parameters changed since the password was set, store a new hash of it."""
    old_hash = user.password_hash or ""
    new_hash = await hash_password_async(password) if needs_rehash(old_hash) else None
    async with in_transaction(TENANT_ALIAS):
        cleared = {"failed_sign_ins": 0, "last_failed_sign_in_at": None}
        await User.filter(id=user.id).update(
            **cleared, **({"last_login_at": attempt.now} if sign_in else {})
        )
        if new_hash is not None:  # unless the password changed meanwhile
            await User.filter(id=user.id, password_hash=old_hash).update(password_hash=new_hash)
        await attempt.record(SUCCESS, user)
    return await User.get(id=user.id)


async def _check_address(attempt: _Attempt) -> None:
    if attempt.address and (wait := await _address_wait(attempt.address, attempt.now)):
        raise await attempt.refuse(SignInCode.THROTTLED, None, wait)


async def _check_password(
    attempt: _Attempt, user: User, policy: IdentityPolicy, password: str
) -> None:
    """The account's brakes, then the password; a wrong one counts as a failure."""
    if user.locked_at is not None:
        raise await attempt.refuse(SignInCode.LOCKED, user)
    if wait := _account_wait(user, policy, attempt.now):
        raise await attempt.refuse(SignInCode.THROTTLED, user, wait)
    stored = user.password_hash
    if not (await verify_password_async(stored or dummy_hash(), password) and stored):
        raise SignInRefused(await _count_failure(attempt, user, policy))


async def authenticate(email: str, password: str, *, source_address: str | None) -> User:
    """The user whose email and password these are, or ``SignInRefused``.

    Runs inside the tenant's scope; each attempt writes its own short transactions
    (never one held while argon2 runs)."""
    attempt = _Attempt(email, source_address)
    await _check_address(attempt)
    policy = await get_policy()
    user = await User.get_or_none(email=attempt.tried)
    if user is None:
        await verify_password_async(dummy_hash(), password)  # as long as for a real user
        raise await attempt.refuse(SignInCode.INVALID_CREDENTIALS, None)
    await _check_password(attempt, user, policy, password)
    if user.status is UserStatus.DEACTIVATED:
        raise await attempt.refuse(SignInCode.DEACTIVATED, user)
    if policy.email_verification_required and user.email_verified_at is None:
        raise await attempt.refuse(SignInCode.EMAIL_NOT_VERIFIED, user)
    return await _succeed(attempt, user, password, sign_in=True)


async def reauthenticate(user: User, password: str, *, source_address: str | None) -> User:
    """Check a signed-in user's current password again before a sensitive change (their
    password or email), behind the same brakes as a sign-in and counted with its
    failures, so a stolen access token cannot guess the password faster. Raises
    ``SignInRefused`` (INVALID_CREDENTIALS, THROTTLED or LOCKED)."""
    attempt = _Attempt(user.email, source_address, operation="reauthenticate")
    await _check_address(attempt)
    await _check_password(attempt, user, await get_policy(), password)
    return await _succeed(attempt, user, password, sign_in=False)


async def unlock(user_id: int, *, reason: str | None = None) -> User:
    """Clear a lock-out and the failure count (an administrator's decision)."""
    errors: list[FieldError] = []
    cleaned = clean_reason(reason, errors, required=False)
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        user = await User.filter(id=user_id).select_for_update().get_or_none()
        if user is None:
            raise fail("id", Code.NOT_FOUND, "no such user")
        if user.locked_at is None:
            raise fail("id", Code.NOT_LOCKED, "the user is not locked")
        user.locked_at = None
        user.failed_sign_ins = 0
        user.last_failed_sign_in_at = None
        await user.save(update_fields=["locked_at", "failed_sign_ins", "last_failed_sign_in_at"])
        await record("userUnlock", targets=[f"User:{user.id}"], summary={"reason": cleaned})
    return user
