"""The human review: the queue, claims, decisions and the onboarding fee.

A reviewer claims an application before deciding it: the claim is one conditional
UPDATE (the application is IN_REVIEW and unclaimed, or its claim expired, or it is the
reviewer's own claim already), so of two reviewers claiming at once exactly one wins;
it lasts ``CLAIM_DURATION`` and is renewed by claiming again. Deciding (approve,
reject, request information) needs the claim, is never allowed on one's own
application, releases the claim and mails the applicant through the outbox. Every
change goes through ``lifecycle.transition`` (compare-and-swap on the merchant's
version), so a claim taken over or any other change since the merchant was read makes
the decision fail with CONFLICT instead of deciding on stale data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from schema.access.service import assign_role, forget_user_access
from schema.core.errors import DomainError, FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.identity.models import User, UserStatus, UserType
from schema.identity.service.mail import send_mail
from schema.identity.validation import clean_text
from schema.merchants import messages
from schema.merchants.errors import Code
from schema.merchants.models import DocumentKind, Merchant, RiskLevel
from schema.merchants.service.lifecycle import note, transition
from schema.merchants.service.screening import standard_for
from schema.merchants.status import Action, MerchantStatus, targets
from tenants.backends import TENANT_ALIAS

CLAIM_DURATION = timedelta(minutes=30)
OWNER_ROLE = "merchant_owner"
MAX_NOTE = 2000
MAX_REASONS = 20
MAX_REASON = 1000  # each
MAX_ITEMS = 50
MAX_MESSAGE = 500
MAX_REFERENCE = 200
# What a reviewer may ask for: the application's fields, or a document of a kind.
REQUESTABLE_FIELDS = frozenset(
    {
        "business_name", "legal_name", "registration_number", "category", "description",
        "website", "contact_name", "contact_email", "contact_phone", "address_line1",
        "address_line2", "city", "region", "postal_code", "country", "bank_details", "logo",
    }
)  # fmt: skip
REQUESTABLE_DOCUMENTS = frozenset(f"document:{kind}" for kind in DocumentKind)
# A decision ends the claim.
RELEASED: dict[str, Any] = {"claimed_by_user_id": None, "claim_expires_at": None}


def _now() -> datetime:
    return datetime.now(UTC)


# --- the queue ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: MerchantStatus = MerchantStatus.IN_REVIEW
    risk_level: RiskLevel | None = None
    submitted_before: datetime | None = None  # exclusive
    submitted_after: datetime | None = None  # inclusive
    claimed: bool | None = None  # by anyone, and the claim has not expired


def queue(where: QueueFilter) -> QuerySet[Merchant]:
    """Applications matching ``where``; the caller pages them oldest submission first
    (the index ``(status, submitted_at, id)`` serves that order)."""
    query = Merchant.filter(status=where.status, submitted_at__isnull=False)
    if where.risk_level is not None:
        query = query.filter(risk_level=where.risk_level)
    if where.submitted_before is not None:
        query = query.filter(submitted_at__lt=where.submitted_before)
    if where.submitted_after is not None:
        query = query.filter(submitted_at__gte=where.submitted_after)
    if where.claimed is not None:
        held = Q(claimed_by_user_id__isnull=False, claim_expires_at__gt=_now())
        query = query.filter(held if where.claimed else ~held)
    return query


# --- claims -------------------------------------------------------------------------------


def _reviewer(actor: Principal) -> int:
    if actor.user_id is None:
        raise fail((), Code.INVALID, "only a signed-in reviewer can hold an application")
    return actor.user_id


def holds_claim(actor: Principal, merchant: Merchant, now: datetime) -> bool:
    return (
        actor.user_id is not None
        and merchant.claimed_by_user_id == actor.user_id
        and merchant.claim_expires_at is not None
        and merchant.claim_expires_at > now
    )


async def claim(actor: Principal, merchant: Merchant) -> Merchant:
    """Hold the application for ``CLAIM_DURATION`` (again, when it is already yours)."""
    reviewer = _reviewer(actor)
    if merchant.owner_user_id == reviewer:
        raise fail("id", Code.SELF_NOT_ALLOWED, "you cannot review your own application")
    now = _now()
    free = (
        Q(claimed_by_user_id__isnull=True)
        | Q(claim_expires_at__lte=now)
        | Q(claimed_by_user_id=reviewer)
    )
    async with in_transaction(TENANT_ALIAS):
        won = await Merchant.filter(
            Q(id=merchant.id, status=MerchantStatus.IN_REVIEW) & free
        ).update(
            claimed_by_user_id=reviewer,
            claim_expires_at=now + CLAIM_DURATION,
            version=F("version") + 1,
            updated_at=now,
        )
        fresh = await Merchant.get(id=merchant.id)
        if not won:
            raise _not_claimable(fresh)
        until = fresh.claim_expires_at.isoformat() if fresh.claim_expires_at else None
        await note(fresh, "application_claim", actor, details={"until": until})
    return fresh


def _not_claimable(merchant: Merchant) -> DomainError:
    if merchant.status is not MerchantStatus.IN_REVIEW:
        message = f"only applications in review can be claimed; this one is {merchant.status}"
        return fail("id", Code.INVALID_TRANSITION, message)
    return fail("id", Code.CLAIMED_BY_OTHER, "another reviewer holds this application")


async def release(actor: Principal, merchant: Merchant) -> Merchant:
    """Give the application back to the queue before the claim runs out."""
    reviewer = _reviewer(actor)
    now = _now()
    async with in_transaction(TENANT_ALIAS):
        released = await Merchant.filter(id=merchant.id, claimed_by_user_id=reviewer).update(
            **RELEASED, version=F("version") + 1, updated_at=now
        )
        if not released:
            raise fail("id", Code.NOT_CLAIMED, "you do not hold this application")
        fresh = await Merchant.get(id=merchant.id)
        await note(fresh, "application_release", actor)
    return fresh


# --- decisions ----------------------------------------------------------------------------


def _decision_errors(actor: Principal, merchant: Merchant, action: Action) -> list[FieldError]:
    """Why ``actor`` may not take ``action`` on ``merchant`` now: the first of an
    illegal transition, their own application, no claim."""
    if not targets(action, merchant.status):
        message = f"a merchant that is {merchant.status} cannot be moved by {action}"
        return [FieldError(("id",), Code.INVALID_TRANSITION, message)]
    if actor.user_id is not None and actor.user_id == merchant.owner_user_id:
        return [FieldError(("id",), Code.SELF_NOT_ALLOWED, "not on your own application")]
    if not holds_claim(actor, merchant, _now()):
        return [FieldError(("id",), Code.NOT_CLAIMED, "claim the application first")]
    return []


def _listed(values: Sequence[Any], field: str, limit: int, errors: list[FieldError]) -> bool:
    """Whether the list can be looked at item by item (not empty, not too long)."""
    if not values:
        errors.append(FieldError((field,), Code.REQUIRED, "give at least one"))
    elif len(values) > limit:
        errors.append(FieldError((field,), Code.OUT_OF_RANGE, f"at most {limit}"))
    return 0 < len(values) <= limit


async def _owner(merchant: Merchant) -> User:
    return await User.get(id=merchant.owner_user_id)


async def approve(actor: Principal, merchant: Merchant, note_text: str | None) -> Merchant:
    """On to the onboarding fee (APPROVED) when the standards the application was
    submitted under charge one, else straight to the agreement; the applicant becomes
    the merchant's owner."""
    errors: list[FieldError] = []
    reason = clean_text(
        note_text, errors, "note", max_length=MAX_NOTE, required=False, multiline=True
    )
    raise_if_any(errors + _decision_errors(actor, merchant, Action.APPROVE))
    async with in_transaction(TENANT_ALIAS):
        owner = await _owner(merchant)
        _check_owner(owner, merchant)
        fee_due = (await standard_for(merchant.standard_version)).fee_amount is not None
        to = MerchantStatus.APPROVED if fee_due else MerchantStatus.AGREEMENT_PENDING
        await transition(
            merchant,
            Action.APPROVE,
            actor,
            to=to,
            reason=reason,
            details={"fee_due": fee_due, "owner_user_id": owner.id},
            decided_at=_now(),
            **RELEASED,
        )
        await _make_owner(owner, merchant)
        await send_mail(
            owner,
            messages.APPROVED,
            business_name=merchant.business_name,
            next_step=_next_step(fee_due),
        )
    forget_user_access(owner.id)  # again, now that the role is committed
    return merchant


def _check_owner(owner: User, merchant: Merchant) -> None:
    if owner.status is not UserStatus.ACTIVE:
        raise fail("id", Code.OWNER_INELIGIBLE, "the applicant's account is deactivated")
    if owner.merchant_id not in (None, merchant.id):
        raise fail("id", Code.OWNER_INELIGIBLE, "the applicant works for another merchant")
    if owner.user_type is UserType.TENANT_STAFF:
        # Whoever reviews or sanctions merchants must not also own one.
        raise fail("id", Code.OWNER_INELIGIBLE, "the applicant is on the tenant's staff")


async def _make_owner(owner: User, merchant: Merchant) -> None:
    """The ``merchant_owner`` role for this merchant, and the account tied to it so that
    the role's merchant-limited grants apply."""
    if owner.merchant_id is None:
        tied = await User.filter(id=owner.id, merchant_id__isnull=True).update(
            merchant_id=merchant.id
        )
        if not tied:  # joined another merchant's staff meanwhile
            raise fail("id", Code.OWNER_INELIGIBLE, "the applicant works for another merchant")
    try:
        await assign_role(owner.id, OWNER_ROLE, merchant_id=merchant.id, by="merchants.approval")
    except DomainError as refused:
        raise fail("id", Code.OWNER_INELIGIBLE, f"the applicant cannot own it: {refused}") from None


def _next_step(fee_due: bool) -> str:
    if fee_due:
        return "Once the onboarding fee is paid, you will be asked to accept the agreement."
    return "To start trading, accept the cooperation agreement."


async def reject(actor: Principal, merchant: Merchant, reasons: Sequence[str]) -> Merchant:
    """Refuse the application, with every reason; the applicant may reopen it."""
    errors: list[FieldError] = []
    cleaned = [
        clean_text(r, errors, ("reasons", str(i)), max_length=MAX_REASON, multiline=True)
        for i, r in enumerate(reasons if _listed(reasons, "reasons", MAX_REASONS, errors) else [])
    ]
    raise_if_any(errors + _decision_errors(actor, merchant, Action.REJECT))
    given = [r for r in cleaned if r]
    async with in_transaction(TENANT_ALIAS):
        await transition(
            merchant,
            Action.REJECT,
            actor,
            reason="; ".join(given),
            details={"reasons": given},
            decided_at=_now(),
            **RELEASED,
        )
        await send_mail(
            await _owner(merchant),
            messages.REJECTED,
            business_name=merchant.business_name,
            reasons=messages.bullet_list(given),
        )
    return merchant


@dataclass(frozen=True, slots=True)
class RequestedItem:
    item: str  # a REQUESTABLE_FIELDS name, or "document:<kind>"
    message: str


def _clean_items(items: Sequence[RequestedItem], errors: list[FieldError]) -> list[dict[str, str]]:
    if not _listed(items, "items", MAX_ITEMS, errors):
        return []
    cleaned = []
    for i, entry in enumerate(items):
        item = entry.item.strip()
        if item not in REQUESTABLE_FIELDS | REQUESTABLE_DOCUMENTS:
            message = "a field of the application or document:<kind>"
            errors.append(FieldError(("items", str(i), "item"), Code.INVALID, message))
        path = ("items", str(i), "message")
        text = clean_text(entry.message, errors, path, max_length=MAX_MESSAGE)
        cleaned.append({"item": item, "message": text or ""})
    return cleaned


async def request_information(
    actor: Principal, merchant: Merchant, items: Sequence[RequestedItem]
) -> Merchant:
    """Send the application back to the applicant with what to add or correct."""
    errors: list[FieldError] = []
    requested = _clean_items(items, errors)
    raise_if_any(errors + _decision_errors(actor, merchant, Action.REQUEST_INFORMATION))
    async with in_transaction(TENANT_ALIAS):
        await transition(
            merchant,
            Action.REQUEST_INFORMATION,
            actor,
            details={"requested_items": requested},
            requested_items=requested,
            **RELEASED,
        )
        await send_mail(
            await _owner(merchant),
            messages.INFORMATION_REQUESTED,
            business_name=merchant.business_name,
            items=messages.items_text(requested),
        )
    return merchant


async def record_fee(actor: Principal, merchant: Merchant, reference: str) -> Merchant:
    """The onboarding fee was paid (``reference``: the payment's, or why it was waived):
    on to the agreement."""
    errors: list[FieldError] = []
    cleaned = clean_text(reference, errors, "reference", max_length=MAX_REFERENCE)
    if not targets(Action.RECORD_FEE, merchant.status):
        message = f"no fee is due from a merchant that is {merchant.status}"
        errors.append(FieldError(("id",), Code.INVALID_TRANSITION, message))
    elif actor.user_id is not None and actor.user_id == merchant.owner_user_id:
        errors.append(FieldError(("id",), Code.SELF_NOT_ALLOWED, "not for your own merchant"))
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        await transition(
            merchant,
            Action.RECORD_FEE,
            actor,
            details={"reference": cleaned},
            fee_paid_at=_now(),
            fee_reference=cleaned,
        )
        await send_mail(
            await _owner(merchant), messages.FEE_RECORDED, business_name=merchant.business_name
        )
    return merchant
