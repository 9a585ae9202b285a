"""A merchant's staff: invitations by email, accepting them, taking people off.

- The owner (or someone whose ``merchants:manage`` covers the merchant) invites an
  address with a role. Inviting is handing out the role, so the access domain's rule
  holds: the inviter holds ``roles:assign`` and everything the role grants, for this
  merchant. The role must be one a merchant's staff can hold (limited to a merchant,
  ``required`` or ``optional``). Only a merchant that trades or is about to
  (AGREEMENT_PENDING, ACTIVE, WARNED) takes on staff.
- The mail carries a 256-bit random token; only its SHA-256 is stored. It works once,
  for 7 days, for a signed-in user with the invited address (confirmed, when the tenant
  requires confirmed addresses), who works for no merchant yet (nor for the tenant).
  Redeeming it is one conditional UPDATE, so two concurrent accepts: one wins. A new
  invitation of the same address replaces the pending one.
- Accepting gives the user the role limited to the merchant, and makes them the
  merchant's staff (``merchant_id``, user type ``merchant_staff``): every grant they
  hold for a merchant then covers only this one.
- Taking someone off removes every role they hold for the merchant (the remover must
  hold what those roles grant, as for unassigning), clears their merchant, revokes the
  invitations they sent, and drops their cached access. The owner cannot be taken off.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from schema.access.models import Role, RoleAssignment
from schema.access.service import (
    assign_role,
    assignable_role,
    forget_user_access,
    remove_assignments,
)
from schema.access.templates import MerchantScope
from schema.core.errors import DomainError, FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.identity.models import User, UserType
from schema.identity.policy import get_policy
from schema.identity.service.mail import account_link, send_mail_to
from schema.identity.service.tokens import MAX_TOKEN_LENGTH, TOKEN_BYTES, digest
from schema.identity.validation import clean_email, clean_reason
from schema.merchants.errors import Code
from schema.merchants.models import Merchant, StaffInvitation
from schema.merchants.service.lifecycle import note
from schema.merchants.status import MerchantStatus
from tenants.backends import TENANT_ALIAS

INVITATION_LIFETIME = timedelta(days=7)
DEFAULT_ROLE = "merchant_staff"
LINK_ACTION = "merchant-invitation"  # the link: <base>/merchant-invitation?token=...
STAFFED = frozenset(
    {MerchantStatus.AGREEMENT_PENDING, MerchantStatus.ACTIVE, MerchantStatus.WARNED}
)


def _pending(now: datetime) -> dict[str, object]:
    """The filter of invitations that can still be accepted."""
    return {"accepted_at__isnull": True, "revoked_at__isnull": True, "expires_at__gt": now}


def _inactive(merchant: Merchant) -> FieldError:
    message = f"a merchant that is {merchant.status.value} takes on no staff"
    return FieldError(("merchant_id",), Code.MERCHANT_INACTIVE, message)


async def invite(
    actor: Principal, merchant: Merchant, email: str, role_key: str = DEFAULT_ROLE
) -> StaffInvitation:
    """Invite ``email`` to work for ``merchant`` with ``role_key``; the link is mailed."""
    errors: list[FieldError] = []
    email = clean_email(email, errors)
    if merchant.status not in STAFFED:
        errors.append(_inactive(merchant))
    if email and await User.exists(email=email, merchant_id=merchant.id):
        errors.append(FieldError(("email",), Code.ALREADY_STAFF, "works for this merchant"))
    raise_if_any(errors)
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with in_transaction(TENANT_ALIAS):
        role, _ = await assignable_role(actor, role_key, merchant.id, field="role_key")
        if role.merchant_scope is MerchantScope.FORBIDDEN:
            message = f"{role.key!r} is never limited to a merchant"
            raise fail("role_key", Code.ROLE_NOT_ALLOWED, message)
        # The address's pending invitation, if any, is replaced: one link works at a time.
        await StaffInvitation.filter(merchant_id=merchant.id, email=email, **_pending(now)).update(
            revoked_at=now
        )
        row = await StaffInvitation.create(
            merchant_id=merchant.id,
            email=email,
            role_key=role.key,
            token_hash=digest(token),
            invited_by=actor.subject,
            created_at=now,
            expires_at=now + INVITATION_LIFETIME,
        )
        await _mail_invitation(merchant, row, token)
        details = {"invitation_id": row.id, "email": email, "role": role.key}
        await note(merchant, "staff_invite", actor, details=details)
    return row


async def _mail_invitation(merchant: Merchant, row: StaffInvitation, token: str) -> None:
    known = await User.get_or_none(email=row.email).only("id", "full_name")
    await send_mail_to(
        row.email,
        known.full_name if known is not None else row.email,
        "merchant_staff_invitation",
        business_name=merchant.business_name,
        role=row.role_key,
        token=token,
        link=await account_link(LINK_ACTION, token),
        expires_at=row.expires_at.isoformat(),
    )


def _token_invalid() -> DomainError:
    return fail("token", Code.TOKEN_INVALID, "this invitation is not valid: ask for a new one")


async def _acceptance_errors(user: User, row: StaffInvitation, merchant: Merchant) -> None:
    errors: list[FieldError] = []
    if user.email != row.email:
        message = "the invitation is for another email address: sign in with that one"
        errors.append(FieldError(("token",), Code.EMAIL_MISMATCH, message))
    elif user.email_verified_at is None and (await get_policy()).email_verification_required:
        message = "confirm your email address first"
        errors.append(FieldError(("token",), Code.EMAIL_NOT_VERIFIED, message))
    if user.merchant_id is not None or user.user_type is UserType.TENANT_STAFF:
        message = "you work for a merchant, or for the tenant, already"
        errors.append(FieldError(("token",), Code.ALREADY_STAFF, message))
    if merchant.status not in STAFFED:
        errors.append(_inactive(merchant))
    role = await Role.get_or_none(key=row.role_key)
    if role is None or role.merchant_scope is MerchantScope.FORBIDDEN:
        message = "the role was changed since the invitation: ask for a new one"
        errors.append(FieldError(("token",), Code.ROLE_NOT_ALLOWED, message))
    raise_if_any(errors)


async def accept(actor: Principal, token: str) -> Merchant:
    """The signed-in user joins the merchant that invited them."""
    if actor.user_id is None:
        raise fail((), Code.NOT_A_USER, "a person accepts an invitation")
    now = datetime.now(UTC)
    async with in_transaction(TENANT_ALIAS):
        # Claimed first, like a mailed token: of two concurrent accepts the row lock
        # lets one through, and the other finds it accepted. A refusal below rolls the
        # claim back, so the invitation stays usable by the right person.
        claimed = 0
        if token and len(token) <= MAX_TOKEN_LENGTH:
            claimed = await StaffInvitation.filter(
                token_hash=digest(token), **_pending(now)
            ).update(accepted_at=now, accepted_user_id=actor.user_id)
        if not claimed:
            raise _token_invalid()
        row = await StaffInvitation.get(token_hash=digest(token))
        user = await User.get(id=actor.user_id)
        merchant = await Merchant.get(id=row.merchant_id)
        await _acceptance_errors(user, row, merchant)
        joined = await User.filter(id=user.id, merchant_id__isnull=True).update(
            merchant_id=merchant.id, user_type=UserType.MERCHANT_STAFF
        )
        if not joined:  # another invitation of theirs was accepted meanwhile
            raise fail("token", Code.ALREADY_STAFF, "you work for a merchant already")
        await assign_role(
            user.id, row.role_key, merchant_id=merchant.id,
            by=f"merchants.invitation:{row.id}",
            reason=f"invited by {row.invited_by}",
        )  # fmt: skip
        details = {"invitation_id": row.id, "user_id": user.id, "role": row.role_key}
        await note(merchant, "staff_invitation_accept", actor, details=details)
    forget_user_access(user.id)  # again after the commit: a read meanwhile saw the old rows
    return merchant


async def revoke(actor: Principal, merchant: Merchant, row: StaffInvitation) -> StaffInvitation:
    now = datetime.now(UTC)
    async with in_transaction(TENANT_ALIAS):
        revoked = await StaffInvitation.filter(id=row.id, **_pending(now)).update(revoked_at=now)
        if not revoked:
            message = "the invitation was accepted or revoked, or has expired"
            raise fail("id", Code.NOT_PENDING, message)
        row.revoked_at = now
        details = {"invitation_id": row.id, "email": row.email}
        await note(merchant, "staff_invitation_revoke", actor, details=details)
    return row


async def remove(actor: Principal, merchant: Merchant, user_id: int, reason: str) -> Merchant:
    """Take ``user_id`` off the merchant's staff."""
    errors: list[FieldError] = []
    reason = clean_reason(reason, errors) or ""
    if user_id == merchant.owner_user_id:
        message = "the merchant's owner cannot be taken off its staff"
        errors.append(FieldError(("user_id",), Code.CANNOT_REMOVE_OWNER, message))
    elif not await User.exists(id=user_id, merchant_id=merchant.id):
        errors.append(FieldError(("user_id",), Code.NOT_FOUND, "no such member of the staff"))
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        held = await RoleAssignment.filter(
            user_id=user_id, merchant_id=merchant.id
        ).prefetch_related("role")
        for assignment in held:
            await assignable_role(actor, assignment.role.key, merchant.id, field="user_id")
        await remove_assignments(actor, held, reason)
        await User.filter(id=user_id, merchant_id=merchant.id).update(
            merchant_id=None, user_type=UserType.USER
        )
        await StaffInvitation.filter(
            merchant_id=merchant.id, invited_by=f"user:{user_id}", **_pending(datetime.now(UTC))
        ).update(revoked_at=datetime.now(UTC))
        details = {"user_id": user_id, "roles": sorted(a.role.key for a in held)}
        await note(merchant, "staff_remove", actor, reason=reason, details=details)
    forget_user_access(user_id)
    return merchant
