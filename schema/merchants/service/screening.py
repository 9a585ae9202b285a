"""The automated review of a submitted application (the job ``merchants.screen``).

It gathers what it needs once (``Facts``), runs every check on it (pure functions: no
database), writes one ``ScreeningFinding`` per check, pass or fail, with its evidence,
and moves the application on:

- a failed check the applicant can fix (severity ``return``: a document missing or
  expired, a malformed registration number, implausible bank details) sends it back
  (SCREEN_RETURN) with the list of what to fix, mailed to the applicant;
- otherwise it goes to a reviewer (SCREEN_PASS) with a risk level: HIGH when a check of
  severity ``high`` failed (a watch-list match, a registration number another merchant
  holds), MEDIUM for one of severity ``medium`` (a restricted category, a document
  expiring within 30 days), else LOW. The applicant hears nothing until the decision.

Idempotent: it acts only on a merchant that is SUBMITTED with the submission it was
asked for (a redelivered job after success, or one for an older submission, does
nothing), and a retried run rewrites its own findings (unique per merchant, submission
and check) in the same transaction as the transition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from stdnum import iban
from stdnum.exceptions import ValidationError
from tortoise.transactions import in_transaction

from schema.audit.service import current_acting
from schema.core.secrets import NotOpenable
from schema.identity.models import User
from schema.identity.service.mail import send_mail
from schema.merchants.messages import INFORMATION_REQUESTED, items_text
from schema.merchants.models import (
    Merchant,
    MerchantDocument,
    OnboardingStandard,
    RiskLevel,
    ScreeningFinding,
    WatchListEntry,
)
from schema.merchants.patterns import matches
from schema.merchants.service import watchlist
from schema.merchants.service.bank_details import BankDetails, open_bank_details
from schema.merchants.service.lifecycle import transition
from schema.merchants.status import HOLDS_REGISTRATION, Action, MerchantStatus
from tenants.backends import TENANT_ALIAS

SCREEN_ACTOR = "merchants.screen"
EXPIRY_WARNING = timedelta(days=30)


class Check(StrEnum):
    REQUIRED_DOCUMENTS = "required_documents"
    DOCUMENTS_UNEXPIRED = "documents_unexpired"
    DOCUMENTS_NOT_EXPIRING = "documents_not_expiring"  # none within EXPIRY_WARNING
    REGISTRATION_NUMBER_FORMAT = "registration_number_format"
    REGISTRATION_NUMBER_UNIQUE = "registration_number_unique"
    WATCH_LIST = "watch_list"
    BANK_DETAILS = "bank_details"
    CATEGORY_UNRESTRICTED = "category_unrestricted"


class Severity(StrEnum):
    """What a failure of the check means."""

    RETURN = "return"  # the applicant must fix it: the application goes back
    HIGH = "high"  # a person must weigh it: HIGH risk
    MEDIUM = "medium"  # MEDIUM risk


SEVERITY: dict[Check, Severity] = {
    Check.REQUIRED_DOCUMENTS: Severity.RETURN,
    Check.DOCUMENTS_UNEXPIRED: Severity.RETURN,
    Check.DOCUMENTS_NOT_EXPIRING: Severity.MEDIUM,
    Check.REGISTRATION_NUMBER_FORMAT: Severity.RETURN,
    Check.REGISTRATION_NUMBER_UNIQUE: Severity.HIGH,
    Check.WATCH_LIST: Severity.HIGH,
    Check.BANK_DETAILS: Severity.RETURN,
    Check.CATEGORY_UNRESTRICTED: Severity.MEDIUM,
}

# Where there is no IBAN: an account number of this many digits, and a bank code
# (routing number, sort code, BSB, CNAPS...) of this many letters and digits.
ACCOUNT_DIGITS = range(5, 21)
BANK_CODE_LENGTH = range(3, 13)


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the checks look at, read once."""

    merchant: Merchant
    standard: OnboardingStandard
    documents: Sequence[MerchantDocument]  # current ones (not replaced)
    today: date
    holders: Sequence[Merchant]  # others holding the same registration number
    compared: dict[str, dict[str, str]]  # watch-list kind -> normalized value -> field
    listed: Sequence[WatchListEntry]
    bank: BankDetails | None
    bank_sealed_but_unreadable: bool


@dataclass(frozen=True, slots=True)
class Result:
    check: Check
    passed: bool
    evidence: dict[str, Any]
    requests: tuple[dict[str, str], ...] = ()  # what to ask the applicant, when it failed

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.check]


def _request(item: str, message: str) -> dict[str, str]:
    return {"item": item, "message": message}


def _label(kind: str) -> str:
    return kind.replace("_", " ")


# --- the checks ---------------------------------------------------------------------------


def required_documents(facts: Facts) -> Result:
    required = [str(d["kind"]) for d in facts.standard.documents if d.get("required")]
    present = sorted({str(doc.kind) for doc in facts.documents})
    missing = [kind for kind in required if kind not in present]
    requests = tuple(_request(f"document:{k}", f"add the {_label(k)}") for k in missing)
    evidence = {
        "standard_version": facts.standard.version,
        "required": required,
        "present": present,
        "missing": missing,
    }
    return Result(Check.REQUIRED_DOCUMENTS, not missing, evidence, requests)


def _dated(documents: Sequence[MerchantDocument]) -> list[dict[str, str | None]]:
    return [
        {"kind": str(doc.kind), "expires_on": doc.expires_on and doc.expires_on.isoformat()}
        for doc in documents
    ]


def documents_unexpired(facts: Facts) -> Result:
    """Every current document still valid today, and those of kinds the standards say
    expire carry their expiry date."""
    expiring_kinds = {str(d["kind"]) for d in facts.standard.documents if d.get("expires")}
    expired = [d for d in facts.documents if d.expires_on and d.expires_on < facts.today]
    undated = [d for d in facts.documents if str(d.kind) in expiring_kinds and d.expires_on is None]
    requests = tuple(
        [_request(f"document:{d.kind}", f"the {_label(d.kind)} has expired") for d in expired]
        + [
            _request(f"document:{d.kind}", f"give the {_label(d.kind)}'s expiry date")
            for d in undated
        ]
    )
    evidence = {
        "checked_on": facts.today.isoformat(),
        "documents": _dated(facts.documents),
        "expired": _dated(expired),
        "undated": _dated(undated),
    }
    return Result(Check.DOCUMENTS_UNEXPIRED, not requests, evidence, requests)


def documents_not_expiring(facts: Facts) -> Result:
    until = facts.today + EXPIRY_WARNING
    soon = [d for d in facts.documents if d.expires_on and facts.today <= d.expires_on <= until]
    evidence = {
        "checked_on": facts.today.isoformat(),
        "until": until.isoformat(),
        "expiring": _dated(soon),
    }
    return Result(Check.DOCUMENTS_NOT_EXPIRING, not soon, evidence)


def registration_number_format(facts: Facts) -> Result:
    value = facts.merchant.registration_number
    pattern = facts.standard.registration_number_pattern
    well_formed = value is not None and matches(pattern, value)
    evidence = {"value": value, "pattern": pattern, "well_formed": well_formed}
    message = "give the business's registration number as the register issued it"
    request = () if well_formed else (_request("registration_number", message),)
    return Result(Check.REGISTRATION_NUMBER_FORMAT, well_formed, evidence, request)


def registration_number_unique(facts: Facts) -> Result:
    held_by = [{"merchant_id": m.id, "status": str(m.status)} for m in facts.holders]
    evidence = {"value": facts.merchant.registration_number, "held_by": held_by}
    return Result(Check.REGISTRATION_NUMBER_UNIQUE, not held_by, evidence)


def watch_list(facts: Facts) -> Result:
    hits = [
        {
            "entry_id": e.id,
            "kind": str(e.kind),
            "value": e.value,
            "reason": e.reason,
            "field": facts.compared[str(e.kind)][e.value],
        }
        for e in facts.listed
    ]
    return Result(Check.WATCH_LIST, not hits, {"compared": facts.compared, "hits": hits})


def _iban_problem(number: str) -> str | None:
    problems: dict[type[ValidationError], str] = {
        iban.InvalidChecksum: "the IBAN's check digits are wrong",
        iban.InvalidComponent: f"no country issues IBANs starting with {number[:2]!r}",
        iban.InvalidFormat: f"not an IBAN of the format {number[:2]} uses",
        iban.InvalidLength: f"not an IBAN of the length {number[:2]} uses",
    }
    try:
        iban.validate(number)
    except ValidationError as exc:
        return problems.get(type(exc), "not a valid IBAN")
    return None


def _account_problem(details: BankDetails) -> str | None:
    number = "".join(c for c in details.account_number or "" if c not in " -")
    code = "".join(c for c in details.bank_code or "" if c not in " -")
    if not (number.isdigit() and len(number) in ACCOUNT_DIGITS):
        return f"an account number has {ACCOUNT_DIGITS[0]}-{ACCOUNT_DIGITS[-1]} digits"
    if not (code.isalnum() and len(code) in BANK_CODE_LENGTH):
        return "give the bank code (routing number, sort code...) with the account number"
    return None


def _bank_evidence(facts: Facts) -> tuple[dict[str, Any], str | None]:
    """What was found (never more of the account than its last four characters), and
    the problem, if any."""
    details = facts.bank
    if details is None:
        if facts.bank_sealed_but_unreadable:
            return {"method": None}, "the bank details could not be read: enter them again"
        return {"method": None}, "give the bank account the payouts go to"
    evidence: dict[str, Any] = {
        "country": details.country,
        "merchant_country": facts.merchant.country,
        "last4": details.last4,
    }
    if not details.iban:
        evidence |= {"method": "account_number", "bank_code": details.bank_code}
        return evidence, _account_problem(details)
    number = iban.compact(details.iban)
    evidence |= {"method": "iban", "iban_country": number[:2]}
    problem = _iban_problem(number)
    if problem is None and number[:2] != details.country:
        problem = f"an IBAN of a bank in {details.country} starts with {details.country}"
    return evidence, problem


def bank_details(facts: Facts) -> Result:
    evidence, problem = _bank_evidence(facts)
    evidence["problem"] = problem
    requests = () if problem is None else (_request("bank_details", problem),)
    return Result(Check.BANK_DETAILS, problem is None, evidence, requests)


def category_unrestricted(facts: Facts) -> Result:
    category = facts.merchant.category
    restricted = list(facts.standard.restricted_categories)
    evidence = {"category": category, "restricted": restricted}
    return Result(Check.CATEGORY_UNRESTRICTED, category not in restricted, evidence)


CHECKS: tuple[Callable[[Facts], Result], ...] = (
    required_documents,
    documents_unexpired,
    documents_not_expiring,
    registration_number_format,
    registration_number_unique,
    watch_list,
    bank_details,
    category_unrestricted,
)


# --- the outcome --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    results: list[Result]

    @property
    def requested_items(self) -> list[dict[str, str]]:
        return [
            item
            for r in self.results
            if not r.passed and r.severity is Severity.RETURN
            for item in r.requests
        ]

    @property
    def action(self) -> Action:
        return Action.SCREEN_RETURN if self.requested_items else Action.SCREEN_PASS

    @property
    def risk_level(self) -> RiskLevel:
        failed = {r.severity for r in self.results if not r.passed}
        if Severity.HIGH in failed:
            return RiskLevel.HIGH
        return RiskLevel.MEDIUM if Severity.MEDIUM in failed else RiskLevel.LOW


def evaluate(facts: Facts) -> Outcome:
    return Outcome([check(facts) for check in CHECKS])


# --- reading the facts and writing the result ---------------------------------------------


async def standard_for(version: int | None) -> OnboardingStandard:
    """The standards an application was submitted under (without one: the current)."""
    if version is not None:
        return await OnboardingStandard.get(version=version)
    latest = await OnboardingStandard.all().order_by("-version").first()
    if latest is None:
        raise RuntimeError("no onboarding standards: the migration seeds version 1")
    return latest


async def _holders(merchant: Merchant) -> list[Merchant]:
    if merchant.registration_number is None:
        return []
    return (
        await Merchant.filter(
            registration_number=merchant.registration_number, status__in=list(HOLDS_REGISTRATION)
        )
        .exclude(id=merchant.id)
        .order_by("id")
    )


def _bank(merchant: Merchant) -> tuple[BankDetails | None, bool]:
    """The opened details, and whether sealed ones failed to open. A secret that is not
    configured is not the applicant's to fix: it raises, and the job is retried."""
    try:
        return open_bank_details(merchant), False
    except NotOpenable:
        return None, True


async def gather(merchant: Merchant) -> Facts:
    compared = watchlist.compared_values(merchant)
    bank, unreadable = _bank(merchant)
    return Facts(
        merchant=merchant,
        standard=await standard_for(merchant.standard_version),
        documents=await MerchantDocument.filter(
            merchant_id=merchant.id, replaced_at__isnull=True
        ).order_by("id"),
        today=datetime.now(UTC).date(),
        holders=await _holders(merchant),
        compared={str(kind): found for kind, found in compared.items()},
        listed=await watchlist.listed(compared),
        bank=bank,
        bank_sealed_but_unreadable=unreadable,
    )


async def _write_findings(merchant: Merchant, submission: int, outcome: Outcome) -> None:
    await ScreeningFinding.filter(merchant_id=merchant.id, submission=submission).delete()
    now = datetime.now(UTC)
    await ScreeningFinding.bulk_create(
        [
            ScreeningFinding(
                merchant_id=merchant.id,
                submission=submission,
                check_name=str(r.check),
                passed=r.passed,
                severity=str(r.severity),
                evidence=r.evidence,
                checked_at=now,
            )
            for r in outcome.results
        ]
    )


async def screen(merchant_id: int, submission: int) -> Outcome | None:
    """Review submission ``submission`` of the merchant; None when there is nothing to
    do (not SUBMITTED with that submission: done already, withdrawn, resubmitted)."""
    async with in_transaction(TENANT_ALIAS):
        merchant = await Merchant.filter(id=merchant_id).select_for_update().first()
        if (
            merchant is None
            or merchant.status is not MerchantStatus.SUBMITTED
            or merchant.submission_count != submission
        ):
            return None
        outcome = evaluate(await gather(merchant))
        await _write_findings(merchant, submission, outcome)
        await _move(merchant, submission, outcome)
    return outcome


async def _move(merchant: Merchant, submission: int, outcome: Outcome) -> None:
    actor = current_acting().principal
    details = {"submission": submission}
    if outcome.action is Action.SCREEN_PASS:
        await transition(
            merchant,
            Action.SCREEN_PASS,
            actor,
            details=details | {"risk_level": outcome.risk_level},
            risk_level=outcome.risk_level,
            requested_items=[],
        )
        return
    items = outcome.requested_items
    await transition(
        merchant,
        Action.SCREEN_RETURN,
        actor,
        details=details | {"requested_items": items},
        requested_items=items,
    )
    owner = await User.get(id=merchant.owner_user_id)
    await send_mail(
        owner,
        INFORMATION_REQUESTED,
        business_name=merchant.business_name,
        items=items_text(items),
    )
