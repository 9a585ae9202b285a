"""Accounts: registration, creation by an administrator, email verification, passwords,
change of email, deactivation and reactivation.

Every operation checks all its input first and raises a ``DomainError`` naming each bad
field before anything changes; a password is hashed before the transaction opens, so
no write lock is held while argon2 runs. Mails are enqueued in the same transaction as
the change they announce.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from schema.access.service import assign_role, forget_user_access
from schema.audit.service import record
from schema.core.errors import FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.identity.models import TokenPurpose, User, UserStatus, UserType
from schema.identity.passwords import hash_password_async
from schema.identity.policy import PasswordRules, get_policy, password_errors, password_rules
from schema.identity.service import tokens
from schema.identity.service.mail import send_mail, send_token_mail
from schema.identity.service.signin import SignInCode, SignInRefused, reauthenticate
from schema.identity.validation import (
    Code,
    clean_email,
    clean_name,
    clean_phone,
    clean_reason,
)
from tenants.backends import TENANT_ALIAS

RESEND_AFTER = timedelta(minutes=1)  # the same mail is not sent again sooner


@dataclass(frozen=True, slots=True)
class NewUser:
    """What registration and ``create_user`` are given, as typed."""

    email: str
    full_name: str
    password: str | None = None
    phone: str | None = None
    user_type: UserType = UserType.USER
    merchant_id: int | None = None
    email_verified: bool = False


def _user_ref(user_id: int) -> str:
    return f"User:{user_id}"


def _check_merchant(new: NewUser, errors: list[FieldError]) -> None:
    """Merchant staff belong to one merchant; nobody else belongs to any."""
    if new.user_type is UserType.MERCHANT_STAFF and new.merchant_id is None:
        errors.append(
            FieldError(("merchant_id",), Code.MERCHANT_REQUIRED, "merchant staff need a merchant")
        )
    elif new.user_type is not UserType.MERCHANT_STAFF and new.merchant_id is not None:
        errors.append(
            FieldError(
                ("merchant_id",), Code.MERCHANT_NOT_ALLOWED, "only merchant staff have a merchant"
            )
        )


async def _checked(new: NewUser, *, phone_required: bool, rules: PasswordRules) -> NewUser:
    """``new`` with its fields normalized, or a DomainError naming every bad one."""
    errors: list[FieldError] = []
    email = clean_email(new.email, errors)
    full_name = clean_name(new.full_name, errors)
    phone = clean_phone(new.phone, errors, required=phone_required)
    if new.password is not None:
        errors += password_errors(new.password, rules, email=email)
    _check_merchant(new, errors)
    raise_if_any(errors)
    if await User.exists(email=email):  # before paying for a hash; the insert re-checks
        raise fail("email", Code.EMAIL_TAKEN, "this email address is already registered")
    return replace(
        new, email=email, full_name=full_name, phone=phone, user_type=UserType(new.user_type)
    )


async def _insert(new: NewUser, operation: str, *, role: str | None = None) -> User:
    """Create the user (holding ``role``) and ask for its first mail, in one transaction:
    "set your password" without a password, else "verify your email" unless verified."""
    password_hash = None if new.password is None else await hash_password_async(new.password)
    now = datetime.now(UTC)
    try:
        async with in_transaction(TENANT_ALIAS):
            user = await User.create(
                email=new.email,
                full_name=new.full_name,
                phone=new.phone,
                password_hash=password_hash,
                password_changed_at=now if password_hash else None,
                user_type=new.user_type,
                merchant_id=new.merchant_id,
                email_verified_at=now if new.email_verified else None,
            )
            if role is not None:
                await assign_role(user.id, role)
            if password_hash is None:
                await send_token_mail(
                    user,
                    "set_password",
                    TokenPurpose.RESET_PASSWORD,
                    "set-password",
                    lifetime=tokens.SET_PASSWORD_LIFETIME,
                )
            elif not new.email_verified:
                await send_token_mail(
                    user, "verify_email", TokenPurpose.VERIFY_EMAIL, "verify-email"
                )
            await record(
                operation,
                targets=[_user_ref(user.id)],
                summary={"user_type": user.user_type.value, "merchant_id": user.merchant_id},
            )
    except IntegrityError:  # the same email registered concurrently
        raise fail("email", Code.EMAIL_TAKEN, "this email address is already registered") from None
    return user


# What a self-registered customer may do (the "user" role template): post, order, ask.
SELF_REGISTERED_ROLE = "user"


async def register(new: NewUser) -> User:
    """Self-registration: an ordinary user, if the tenant's registration is open."""
    policy = await get_policy()
    if not policy.registration_open:
        raise fail((), Code.REGISTRATION_CLOSED, "registration is closed")
    if new.password is None:
        raise fail("password", Code.REQUIRED, "a password is required")
    # Whoever registers is an ordinary user, unverified, of no merchant.
    bare = replace(new, user_type=UserType.USER, merchant_id=None, email_verified=False)
    checked = await _checked(
        bare, phone_required=policy.phone_required, rules=PasswordRules.of(policy)
    )
    return await _insert(checked, "userRegister", role=SELF_REGISTERED_ROLE)


async def create_user(
    email: str,
    full_name: str,
    *,
    user_type: UserType = UserType.USER,
    password: str | None = None,
    email_verified: bool = False,
    merchant_id: int | None = None,
    phone: str | None = None,
) -> User:
    """A user made by an administrator or the platform operator (registration may be
    closed). Without a password the user is mailed a link to set one (valid 7 days).
    The password, when given, must meet the tenant's policy."""
    new = NewUser(email, full_name, password, phone, user_type, merchant_id, email_verified)
    checked = await _checked(new, phone_required=False, rules=await password_rules())
    return await _insert(checked, "userCreate")


async def _active_user(email: str) -> User | None:
    """The active user of ``email``; a malformed email is refused (REQUIRED, TOO_LONG,
    INVALID), a well-formed one of nobody's gives None."""
    errors: list[FieldError] = []
    address = clean_email(email, errors)
    raise_if_any(errors)
    user = await User.get_or_none(email=address)
    return user if user is not None and user.status is UserStatus.ACTIVE else None


async def _mail_again(
    user: User, purpose: TokenPurpose, template: str, action: str, operation: str
) -> None:
    """Mail the user a fresh token of ``purpose``, unless one went out less than
    ``RESEND_AFTER`` ago (someone pressing "send again" does not flood the inbox)."""
    async with in_transaction(TENANT_ALIAS):
        if await tokens.issued_since(user.id, purpose, datetime.now(UTC) - RESEND_AFTER):
            return
        await send_token_mail(user, template, purpose, action)
        await record(operation, targets=[_user_ref(user.id)])


async def request_email_verification(email: str) -> None:
    """Mail a new verification link, if ``email`` is an active, unverified user's. Answers
    the same either way, so nobody learns which addresses have accounts."""
    user = await _active_user(email)
    if user is not None and user.email_verified_at is None:
        await _mail_again(
            user,
            TokenPurpose.VERIFY_EMAIL,
            "verify_email",
            "verify-email",
            "userEmailVerificationRequest",
        )


async def verify_email(token: str) -> User:
    async with in_transaction(TENANT_ALIAS):
        row = await tokens.redeem(token, TokenPurpose.VERIFY_EMAIL)
        user = await User.get(id=row.user_id)
        if user.email_verified_at is None:
            user.email_verified_at = datetime.now(UTC)
            await user.save(update_fields=["email_verified_at"])
        await record("userEmailVerify", targets=[_user_ref(user.id)])
    return user


async def request_password_reset(email: str) -> None:
    """Mail a reset link, if ``email`` is an active user's; the same answer otherwise.
    A reset does not unlock a locked account."""
    user = await _active_user(email)
    if user is not None:
        await _mail_again(
            user,
            TokenPurpose.RESET_PASSWORD,
            "password_reset",
            "reset-password",
            "userPasswordResetRequest",
        )


async def _store_password(user: User, password_hash: str, operation: str) -> None:
    """In the caller's transaction. ``password_changed_at`` tells the session layer which
    sessions predate the change."""
    now = datetime.now(UTC)
    user.password_hash = password_hash
    user.password_changed_at = now
    await user.save(update_fields=["password_hash", "password_changed_at"])
    await record(operation, targets=[_user_ref(user.id)], summary={"password_changed": True})


async def reset_password(token: str, new_password: str) -> User:
    """Set a new password with a reset (or "set your password") token. The mail reached
    the address, so an unverified address counts as verified from now on."""
    row = await tokens.peek(token, TokenPurpose.RESET_PASSWORD)
    user = await User.get(id=row.user_id)
    errors = password_errors(
        new_password, await password_rules(), email=user.email, field="new_password"
    )
    raise_if_any(errors)
    password_hash = await hash_password_async(new_password)
    async with in_transaction(TENANT_ALIAS):
        await tokens.redeem(token, TokenPurpose.RESET_PASSWORD)
        user = await User.filter(id=row.user_id).select_for_update().get()
        if user.email_verified_at is None:
            user.email_verified_at = datetime.now(UTC)
            await user.save(update_fields=["email_verified_at"])
        await _store_password(user, password_hash, "userPasswordReset")
    return user


async def _signed_in_user(user_id: int) -> User:
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise fail((), Code.NOT_FOUND, "no such user")
    return user


async def _confirm_password(user: User, password: str, source_address: str | None) -> None:
    """``password`` must be the user's current one: re-authentication, behind the
    sign-in's brakes. Called once the rest of the input is known to be good."""
    try:
        await reauthenticate(user, password, source_address=source_address)
    except SignInRefused as refused:
        if refused.code is SignInCode.INVALID_CREDENTIALS:
            message = "the current password is wrong"
            raise fail("current_password", Code.WRONG_PASSWORD, message) from None
        raise fail("current_password", Code(refused.code.value), refused.message) from None


async def change_password(
    user_id: int, current_password: str, new_password: str, *, source_address: str | None = None
) -> User:
    user = await _signed_in_user(user_id)
    errors = password_errors(
        new_password, await password_rules(), email=user.email, field="new_password"
    )
    raise_if_any(errors)
    await _confirm_password(user, current_password, source_address)
    password_hash = await hash_password_async(new_password)
    async with in_transaction(TENANT_ALIAS):
        user = await User.filter(id=user_id).select_for_update().get()
        await _store_password(user, password_hash, "userPasswordChange")
    return user


async def request_email_change(
    user_id: int, new_email: str, current_password: str, *, source_address: str | None = None
) -> None:
    """Mail a confirmation link to the new address; the account keeps its address until
    the link is used."""
    user = await _signed_in_user(user_id)
    errors: list[FieldError] = []
    address = clean_email(new_email, errors, field="new_email")
    raise_if_any(errors)
    if address == user.email:
        raise fail("new_email", Code.SAME_EMAIL, "this is the account's address already")
    if await User.exists(email=address):
        raise fail("new_email", Code.EMAIL_TAKEN, "this email address is already registered")
    await _confirm_password(user, current_password, source_address)
    async with in_transaction(TENANT_ALIAS):
        await send_token_mail(
            user,
            "email_change_verify",
            TokenPurpose.CHANGE_EMAIL,
            "confirm-email-change",
            to=address,
            new_email=address,
        )
        await record("userEmailChangeRequest", targets=[_user_ref(user.id)])


async def confirm_email_change(token: str) -> User:
    """Switch to the confirmed address (verified, since the link reached it) and tell the
    old address."""
    taken = fail("token", Code.EMAIL_TAKEN, "the new address was registered meanwhile")
    try:
        async with in_transaction(TENANT_ALIAS):
            row = await tokens.redeem(token, TokenPurpose.CHANGE_EMAIL)
            user = await User.filter(id=row.user_id).select_for_update().get()
            new_email = row.new_email or ""
            if await User.exists(email=new_email):
                raise taken
            old_email = user.email
            user.email = new_email
            user.email_verified_at = datetime.now(UTC)
            await user.save(update_fields=["email", "email_verified_at"])
            # A pending verification of the old address means nothing any more.
            await tokens.drop(user.id, TokenPurpose.VERIFY_EMAIL)
            await send_mail(
                user, "email_changed", to=old_email, old_email=old_email, new_email=new_email
            )
            await record("userEmailChangeConfirm", targets=[_user_ref(user.id)])
    except IntegrityError:
        raise taken from None
    return user


async def _change_status(
    user_id: int,
    to: UserStatus,
    reason: str | None,
    actor: Principal,
    refused: tuple[Code, str],
    operation: str,
) -> User:
    """Move the user to ``to`` (refused with ``refused`` when already there)."""
    errors: list[FieldError] = []
    cleaned = clean_reason(reason, errors)
    raise_if_any(errors)
    if actor.user_id == user_id:
        raise fail("id", Code.SELF_NOT_ALLOWED, "administrators cannot change their own status")
    async with in_transaction(TENANT_ALIAS):
        user = await User.filter(id=user_id).select_for_update().get_or_none()
        if user is None:
            raise fail("id", Code.NOT_FOUND, "no such user")
        if user.status is to:
            raise fail("id", *refused)
        user.status = to
        user.status_reason = cleaned
        user.status_changed_at = datetime.now(UTC)
        user.status_changed_by = actor.subject
        await user.save(
            update_fields=["status", "status_reason", "status_changed_at", "status_changed_by"]
        )
        if to is UserStatus.DEACTIVATED:
            await tokens.drop(user.id)  # no verification, reset or change link works now
        await record(operation, targets=[_user_ref(user.id)], summary={"reason": cleaned})
    forget_user_access(user.id)  # after the commit: a reload now sees the new status
    return user


async def deactivate(user_id: int, reason: str, *, actor: Principal) -> User:
    """The user can no longer sign in, and their pending mailed links stop working."""
    refused = (Code.ALREADY_DEACTIVATED, "the user is deactivated already")
    return await _change_status(
        user_id, UserStatus.DEACTIVATED, reason, actor, refused, "userDeactivate"
    )


async def reactivate(user_id: int, reason: str, *, actor: Principal) -> User:
    refused = (Code.NOT_DEACTIVATED, "the user is active")
    return await _change_status(
        user_id, UserStatus.ACTIVE, reason, actor, refused, "userReactivate"
    )
