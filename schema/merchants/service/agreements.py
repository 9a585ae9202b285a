"""The tenant's cooperation agreement: its versions, their acceptance, re-acceptance.

- Versions are published (``merchants:configure``), never edited; the latest published
  is current. The body's SHA-256 is kept with it: what exactly a merchant accepted.
- A merchant's owner accepts the current version. From AGREEMENT_PENDING this activates
  the merchant (``activated_at`` set the first time; warned again if a warning is still
  in force); from ACTIVE or WARNED it is recorded. Each acceptance keeps version, time,
  user and source address.
- A version published with a re-acceptance deadline is mailed to the owner of every
  active or warned merchant (job ``NOTIFY_ACTOR``), and a daily job (``DEADLINE_ACTOR``)
  moves those that have not accepted it once the deadline passed back to
  AGREEMENT_PENDING, where they stay until they accept. Only the current version's
  deadline counts: a newer version published without one asks nobody to re-accept.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.errors import DomainError, FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.identity.validation import clean_text
from schema.merchants.errors import Code
from schema.merchants.models import AgreementAcceptance, Merchant, MerchantAgreement
from schema.merchants.service.lifecycle import change, note, refused_transition, transition
from schema.merchants.service.notices import mail_owner, mail_owners
from schema.merchants.service.sanctions import standing
from schema.merchants.status import Action, MerchantStatus
from tenants.backends import TENANT_ALIAS
from tenants.outbox import enqueue

log = logging.getLogger("saas.merchants")

NOTIFY_ACTOR = "merchants.agreement.notify"
DEADLINE_ACTOR = "merchants.agreement.deadline"
MAX_VERSION = 50
MAX_TITLE = 200
MAX_BODY = 200_000
# Merchants bound by the current agreement: the others accept it on their way in.
BOUND = (MerchantStatus.ACTIVE, MerchantStatus.WARNED)
ACCEPTS_IN = (MerchantStatus.AGREEMENT_PENDING, *BOUND)


@dataclass(frozen=True, slots=True)
class AgreementDraft:
    version: str  # the tenant's label, e.g. "2026-11"
    title: str
    body: str
    reacceptance_deadline: datetime | None = None


def agreement_ref(agreement_id: int) -> str:
    return f"MerchantAgreement:{agreement_id}"


async def current_agreement() -> MerchantAgreement | None:
    return await MerchantAgreement.all().order_by("-id").first()


def _version_taken(version: str) -> DomainError:
    return fail("version", Code.VERSION_TAKEN, f"version {version!r} was published already")


def _clean_draft(draft: AgreementDraft, errors: list[FieldError]) -> AgreementDraft:
    deadline = draft.reacceptance_deadline
    if deadline is not None:
        deadline = deadline if deadline.tzinfo else deadline.replace(tzinfo=UTC)
        if deadline <= datetime.now(UTC):
            message = "the re-acceptance deadline must be in the future"
            errors.append(FieldError(("reacceptance_deadline",), Code.OUT_OF_RANGE, message))
    return AgreementDraft(
        version=clean_text(draft.version, errors, "version", max_length=MAX_VERSION) or "",
        title=clean_text(draft.title, errors, "title", max_length=MAX_TITLE) or "",
        body=clean_text(draft.body, errors, "body", max_length=MAX_BODY, multiline=True) or "",
        reacceptance_deadline=deadline,
    )


async def publish(actor: Principal, draft: AgreementDraft) -> MerchantAgreement:
    """Publish a new version, current from now on."""
    errors: list[FieldError] = []
    clean = _clean_draft(draft, errors)
    if clean.version and await MerchantAgreement.exists(version=clean.version):
        errors.append(_version_taken(clean.version).errors[0])
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        try:
            async with in_transaction(TENANT_ALIAS):  # a savepoint: the version's unique index
                row = await MerchantAgreement.create(
                    version=clean.version,
                    title=clean.title,
                    body=clean.body,
                    body_sha256=hashlib.sha256(clean.body.encode()).hexdigest(),
                    published_at=datetime.now(UTC),
                    published_by=actor.subject,
                    reacceptance_deadline=clean.reacceptance_deadline,
                )
        except IntegrityError:
            raise _version_taken(clean.version) from None
        if row.reacceptance_deadline is not None:
            await enqueue(NOTIFY_ACTOR, {"agreement_id": row.id})
        await record(
            "merchantAgreementPublish",
            targets=[agreement_ref(row.id)],
            summary={
                "version": row.version,
                "body_sha256": row.body_sha256,
                "reacceptance_deadline": deadline_text(row),
            },
        )
    return row


def deadline_text(row: MerchantAgreement) -> str | None:
    deadline = row.reacceptance_deadline
    return deadline.isoformat() if deadline is not None else None


async def accept(
    actor: Principal, merchant: Merchant, version: str, source_address: str | None
) -> Merchant:
    """The owner's acceptance of the current version (the API checks it is the owner)."""
    current = await current_agreement()
    errors: list[FieldError] = []
    if current is None or current.version != version.strip():
        message = "only the current agreement version can be accepted"
        errors.append(FieldError(("version",), Code.AGREEMENT_NOT_CURRENT, message))
    if merchant.status not in ACCEPTS_IN:
        errors += refused_transition(merchant, Action.ACCEPT_AGREEMENT).errors
    if actor.user_id is None:
        errors.append(FieldError((), Code.NOT_A_USER, "a person accepts an agreement"))
    if errors or current is None or actor.user_id is None:
        raise DomainError(errors)
    async with in_transaction(TENANT_ALIAS):
        await _record_acceptance(merchant, current, actor.user_id, source_address)
        details = {"version": current.version, "agreement_id": current.id}
        if merchant.status is MerchantStatus.AGREEMENT_PENDING:
            await transition(
                merchant, Action.ACCEPT_AGREEMENT, actor, to=await standing(merchant.id),
                details=details, accepted_agreement_id=current.id,
                activated_at=merchant.activated_at or datetime.now(UTC),
            )  # fmt: skip
        else:
            await change(merchant, accepted_agreement_id=current.id)
            await note(merchant, Action.ACCEPT_AGREEMENT, actor, details=details)
    return merchant


async def _record_acceptance(
    merchant: Merchant, agreement: MerchantAgreement, user_id: int, source_address: str | None
) -> None:
    refusal = fail("version", Code.ALREADY_ACCEPTED, "this version was accepted already")
    if await AgreementAcceptance.exists(merchant_id=merchant.id, agreement_id=agreement.id):
        raise refusal
    try:
        async with in_transaction(TENANT_ALIAS):  # a savepoint: unique per merchant and version
            await AgreementAcceptance.create(
                merchant_id=merchant.id,
                agreement_id=agreement.id,
                user_id=user_id,
                accepted_at=datetime.now(UTC),
                source_address=source_address,
            )
    except IntegrityError:
        raise refusal from None


def _not_accepted(agreement: MerchantAgreement) -> QuerySet[Merchant]:
    """Bound merchants that have not accepted ``agreement``, in id order."""
    accepted = AgreementAcceptance.filter(agreement_id=agreement.id).values("merchant_id")
    return Merchant.filter(status__in=BOUND).exclude(id__in=Subquery(accepted)).order_by("id")


async def notify_reacceptance(agreement_id: int) -> int:
    """Mail the owners who must accept ``agreement_id`` by its deadline; returns how
    many. Nothing when a newer version superseded it meanwhile (that one asks)."""
    current = await current_agreement()
    if current is None or current.id != agreement_id or current.reacceptance_deadline is None:
        return 0
    merchants = await _not_accepted(current)
    await mail_owners(
        merchants, "merchant_agreement_reaccept", version=current.version,
        title=current.title, expires_at=current.reacceptance_deadline.isoformat(),
    )  # fmt: skip
    return len(merchants)


async def enforce_deadline(actor: Principal) -> list[int]:
    """Move the bound merchants that let the current version's deadline pass without
    accepting it to AGREEMENT_PENDING, mailing their owners; returns their ids. Running
    it again moves nobody twice: they are no longer bound."""
    current = await current_agreement()
    deadline = current.reacceptance_deadline if current is not None else None
    if current is None or deadline is None or deadline > datetime.now(UTC):
        return []
    moved = []
    for merchant in await _not_accepted(current):
        try:
            async with in_transaction(TENANT_ALIAS):  # one merchant's change: all or nothing
                await mail_owner(merchant, "merchant_agreement_required", version=current.version)
                await transition(
                    merchant, Action.REQUIRE_AGREEMENT, actor,
                    reason=f"agreement {current.version} not accepted by its deadline",
                    details={"version": current.version, "agreement_id": current.id},
                )  # fmt: skip
        except DomainError as exc:  # changed meanwhile: the next run looks again
            log.warning("merchant %s not moved to the agreement: %s", merchant.id, exc)
            continue
        moved.append(merchant.id)
    return moved
