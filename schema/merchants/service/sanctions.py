"""Sanctions (warnings, suspensions, removals) and the merchant's appeals against them.

- A sanction is issued with a reason and evidence, moves the merchant (WARN, SUSPEND,
  REMOVE) and is mailed to its owner. It stays in force until the tenant lifts it or an
  appeal overturns it; then the merchant goes where the sanctions still in force leave
  it (``standing``): suspended while a suspension is, warned while a warning is, active
  otherwise. A removal overturned takes a merchant that was waiting for the agreement
  back to waiting. Nothing moves a merchant the state machine would not: an appeal
  decided after offboarding completed is recorded, and the merchant stays offboarded.
- A merchant appeals each sanction at most once (a unique index, so two concurrent
  appeals cannot both land), while it is in force. The appeal is decided by a reviewer
  who neither issued the sanction nor works for the merchant.

The API layer checks who may act on which merchant; these functions check the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from schema.core.errors import FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.identity.validation import clean_text
from schema.merchants.errors import Code
from schema.merchants.models import (
    Appeal,
    AppealDecision,
    Merchant,
    Sanction,
    SanctionKind,
    SanctionStatus,
)
from schema.merchants.service.lifecycle import note, refused_transition, transition
from schema.merchants.service.notices import mail_owner
from schema.merchants.status import Action, MerchantStatus, targets
from tenants.backends import TENANT_ALIAS

S = MerchantStatus
MAX_TEXT = 5000  # a reason, an evidence item, an appeal's statement
MAX_EVIDENCE = 20

ACTIONS = {
    SanctionKind.WARNING: Action.WARN,
    SanctionKind.SUSPENSION: Action.SUSPEND,
    SanctionKind.REMOVAL: Action.REMOVE,
}
# The status a sanction holds a merchant in while it is in force.
HELD_IN = {
    SanctionKind.WARNING: S.WARNED,
    SanctionKind.SUSPENSION: S.SUSPENDED,
    SanctionKind.REMOVAL: S.OFFBOARDING,
}


def _text(raw: str | None, errors: list[FieldError], field: str) -> str:
    return clean_text(raw, errors, field, max_length=MAX_TEXT, multiline=True) or ""


def _evidence(items: Sequence[str], errors: list[FieldError]) -> list[dict[str, object]]:
    """Evidence as stored: ``{"text": ...}`` items (files join them as ``file_id``)."""
    if len(items) > MAX_EVIDENCE:
        errors.append(FieldError(("evidence",), Code.TOO_LONG, f"at most {MAX_EVIDENCE} items"))
        return []
    texts = [
        clean_text(item, errors, ("evidence", str(i)), max_length=MAX_TEXT, multiline=True)
        for i, item in enumerate(items)
    ]
    return [{"text": text} for text in texts if text]


def _transition_errors(merchant: Merchant, action: Action) -> list[FieldError]:
    return [] if targets(action, merchant.status) else refused_transition(merchant, action).errors


async def standing(merchant_id: int) -> MerchantStatus:
    """SUSPENDED, WARNED or ACTIVE: where the sanctions in force leave a merchant that
    trades (or is about to again)."""
    kinds = set(
        await Sanction.filter(merchant_id=merchant_id, status=SanctionStatus.IN_FORCE).values_list(
            "kind", flat=True
        )
    )
    if SanctionKind.SUSPENSION in kinds:
        return S.SUSPENDED
    return S.WARNED if SanctionKind.WARNING in kinds else S.ACTIVE


async def issue(
    actor: Principal,
    merchant: Merchant,
    kind: SanctionKind,
    reason: str,
    evidence: Sequence[str] = (),
) -> Sanction:
    """Warn, suspend or remove ``merchant``; its owner is mailed."""
    errors: list[FieldError] = []
    reason = _text(reason, errors, "reason")
    stored = _evidence(evidence, errors)
    errors += _transition_errors(merchant, ACTIONS[kind])
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        sanction = await Sanction.create(
            merchant_id=merchant.id,
            kind=kind,
            reason=reason,
            evidence=stored,
            status_before=merchant.status,
            issued_by=actor.subject,
            issued_by_user_id=actor.user_id,
            issued_at=datetime.now(UTC),
        )
        await mail_owner(merchant, "merchant_sanctioned", sanction=kind.value, reason=reason)
        details = {"sanction_id": sanction.id, "kind": kind.value}
        await transition(merchant, ACTIONS[kind], actor, reason=reason, details=details)
    return sanction


async def _restored(merchant: Merchant, sanction: Sanction) -> MerchantStatus | None:
    """Where ``merchant`` goes now that ``sanction`` no longer holds it; None: it stays
    (another sanction holds it, or the sanction was not what held it there)."""
    if merchant.status is not HELD_IN[sanction.kind]:
        return None
    if sanction.kind is SanctionKind.REMOVAL and sanction.status_before == S.AGREEMENT_PENDING:
        return S.AGREEMENT_PENDING
    new = await standing(merchant.id)
    return None if new is merchant.status else new


async def _end(
    sanction: Sanction, ended: SanctionStatus, actor: Principal, reason: str, *, was: SanctionStatus
) -> bool:
    """Compare-and-swap the sanction from ``was`` to ``ended``; whether it was ``was``."""
    fields = {
        "status": ended,
        "ended_at": datetime.now(UTC),
        "ended_by": actor.subject,
        "end_reason": reason,
    }
    updated = await Sanction.filter(id=sanction.id, status=was).update(**fields)
    if updated:
        for name, value in fields.items():
            setattr(sanction, name, value)
    return bool(updated)


async def _reinstate(merchant: Merchant, sanction: Sanction, actor: Principal, reason: str) -> None:
    to = await _restored(merchant, sanction)
    if to is not None:
        details = {"sanction_id": sanction.id}
        await transition(merchant, Action.REINSTATE, actor, to=to, reason=reason, details=details)


async def lift(actor: Principal, merchant: Merchant, sanction: Sanction, reason: str) -> Sanction:
    """End a sanction in force. A removal can be called off only while offboarding."""
    errors: list[FieldError] = []
    reason = _text(reason, errors, "reason")
    if _of_the_merchant(actor, merchant):
        errors.append(FieldError((), Code.SELF_NOT_ALLOWED, "nobody lifts their own sanction"))
    if sanction.status is not SanctionStatus.IN_FORCE:
        errors.append(FieldError(("sanction_id",), Code.NOT_IN_FORCE, "the sanction has ended"))
    elif sanction.kind is SanctionKind.REMOVAL:
        errors += _transition_errors(merchant, Action.REINSTATE)
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        if not await _end(
            sanction, SanctionStatus.LIFTED, actor, reason, was=SanctionStatus.IN_FORCE
        ):
            raise fail("sanction_id", Code.NOT_IN_FORCE, "the sanction has ended")
        await mail_owner(
            merchant, "merchant_sanction_lifted", sanction=sanction.kind.value, reason=reason
        )
        await note(merchant, "sanction_lift", actor, reason=reason,
                   details={"sanction_id": sanction.id})  # fmt: skip
        await _reinstate(merchant, sanction, actor, reason)
    return sanction


async def complete_offboarding(actor: Principal, merchant: Merchant, reason: str) -> Merchant:
    errors: list[FieldError] = []
    reason = _text(reason, errors, "reason")
    errors += _transition_errors(merchant, Action.OFFBOARD_COMPLETE)
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        await transition(merchant, Action.OFFBOARD_COMPLETE, actor, reason=reason)
        await mail_owner(merchant, "merchant_offboarded", reason=reason)
    return merchant


# --- appeals -----------------------------------------------------------------------------


def _already_appealed() -> Exception:
    return fail("sanction_id", Code.ALREADY_APPEALED, "this sanction was appealed already")


async def appeal(
    actor: Principal, merchant: Merchant, sanction: Sanction, statement: str
) -> Appeal:
    """The merchant's one appeal against a sanction in force."""
    errors: list[FieldError] = []
    statement = _text(statement, errors, "statement")
    if sanction.status is not SanctionStatus.IN_FORCE:
        errors.append(FieldError(("sanction_id",), Code.NOT_IN_FORCE, "the sanction has ended"))
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        if await Appeal.exists(sanction_id=sanction.id):
            raise _already_appealed()
        try:
            async with in_transaction(TENANT_ALIAS):  # a savepoint: the unique index
                row = await Appeal.create(
                    sanction_id=sanction.id,
                    merchant_id=merchant.id,
                    statement=statement,
                    submitted_by=actor.subject,
                    submitted_by_user_id=actor.user_id,
                    submitted_at=datetime.now(UTC),
                )
        except IntegrityError:
            raise _already_appealed() from None
        details = {"sanction_id": sanction.id, "appeal_id": row.id}
        await note(merchant, "sanction_appeal", actor, details=details)
    return row


def _of_the_merchant(actor: Principal, merchant: Merchant) -> bool:
    """Whether ``actor`` owns or works for ``merchant`` (by user, or as its client)."""
    return (actor.user_id is not None and actor.user_id == merchant.owner_user_id) or (
        actor.merchant_id is not None and actor.merchant_id == merchant.id
    )


def _involved(actor: Principal, merchant: Merchant, sanction: Sanction, row: Appeal) -> bool:
    """Whether ``actor`` issued the sanction, filed the appeal, or owns or works for the
    merchant: none of them decides it."""
    people = {sanction.issued_by_user_id, row.submitted_by_user_id}
    return (
        actor.subject == sanction.issued_by
        or (actor.user_id is not None and actor.user_id in people)
        or _of_the_merchant(actor, merchant)
    )


async def decide(
    actor: Principal, merchant: Merchant, row: Appeal, decision: AppealDecision, reason: str
) -> Appeal:
    """Uphold or overturn; an overturned sanction ends, and the merchant goes back to
    where the sanctions still in force leave it."""
    errors: list[FieldError] = []
    reason = _text(reason, errors, "reason")
    sanction = await Sanction.get(id=row.sanction_id)
    if row.decision is not None:
        errors.append(FieldError(("appeal_id",), Code.ALREADY_DECIDED, "decided already"))
    elif _involved(actor, merchant, sanction, row):
        message = "an appeal is decided by someone not involved in the sanction or the merchant"
        errors.append(FieldError(("appeal_id",), Code.SELF_NOT_ALLOWED, message))
    raise_if_any(errors)
    now = datetime.now(UTC)
    async with in_transaction(TENANT_ALIAS):
        decided = await Appeal.filter(id=row.id, decision__isnull=True).update(
            decision=decision, decided_by=actor.subject, decided_by_user_id=actor.user_id,
            decided_at=now, decision_reason=reason,
        )  # fmt: skip
        if not decided:
            raise fail("appeal_id", Code.ALREADY_DECIDED, "decided already")
        await mail_owner(
            merchant, "merchant_appeal_decided",
            sanction=sanction.kind.value, decision=decision.value, reason=reason,
        )  # fmt: skip
        details = {"sanction_id": sanction.id, "appeal_id": row.id, "decision": decision.value}
        await note(merchant, "appeal_decide", actor, reason=reason, details=details)
        if decision is AppealDecision.OVERTURNED:
            await _overturn(actor, merchant, sanction, reason)
    return await Appeal.get(id=row.id)


async def _overturn(actor: Principal, merchant: Merchant, sanction: Sanction, reason: str) -> None:
    """The sanction is void: a sanction still in force also stops holding the merchant
    (one lifted meanwhile had already)."""
    over = SanctionStatus.OVERTURNED
    if await _end(sanction, over, actor, reason, was=SanctionStatus.IN_FORCE):
        await _reinstate(merchant, sanction, actor, reason)
    else:
        await _end(sanction, over, actor, reason, was=SanctionStatus.LIFTED)
