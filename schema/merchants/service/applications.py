"""An application from draft to submission, and the owner's edits of the profile later.

A signed-in user writes a draft (only the business name is needed to save one), completes
it over time, and submits it: submission checks it against the standards in force and
refuses with every missing or invalid item at once, or moves it on to the automated
review (``merchants.screen``, enqueued in the same transaction). Input problems are
reported together, with their paths (``input.contactEmail``), and nothing is written.

Who may call what (the owner, a manager of the merchant) is the API's check; these
functions check the input, the merchant's status and the standards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from schema.core.countries import is_country
from schema.core.errors import FieldError, fail, raise_if_any, under
from schema.core.principal import Principal
from schema.identity.models import User
from schema.identity.validation import (
    MAX_NAME_LENGTH,
    clean_email,
    clean_phone,
    clean_reason,
    clean_text,
)
from schema.merchants.errors import Code
from schema.merchants.models import (
    Merchant,
    MerchantDocument,
    MerchantField,
    OnboardingStandard,
)
from schema.merchants.patterns import matches
from schema.merchants.service.bank_details import BankDetails, clean_bank_details, seal
from schema.merchants.service.lifecycle import (
    cannot,
    change,
    note,
    refused_transition,
    transition,
)
from schema.merchants.service.standards import (
    MAX_CATEGORY_LENGTH,
    current_standard,
    requirements,
)
from schema.merchants.status import (
    ADMITTED,
    Action,
    Capability,
    MerchantStatus,
    capabilities,
    targets,
)
from tenants.backends import TENANT_ALIAS
from tenants.outbox import enqueue

SCREEN_JOB = "merchants.screen"
MAX_DESCRIPTION_LENGTH = 5000
MAX_REGISTRATION_NUMBER_LENGTH = 64
MAX_WEBSITE_LENGTH = 300
# An applicant's applications that are still going (or became a merchant): one at a time.
CLOSED = frozenset({MerchantStatus.REJECTED, MerchantStatus.WITHDRAWN, MerchantStatus.OFFBOARDED})
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Address:
    """None leaves a part as it is, ``""`` clears it."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class ApplicationChanges:
    """What to change; None leaves a field as it is, ``""`` clears it (the business name
    cannot be cleared). Bank details are replaced as a whole."""

    business_name: str | None = None
    legal_name: str | None = None
    registration_number: str | None = None
    category: str | None = None
    description: str | None = None
    website: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    address: Address | None = None
    bank_details: BankDetails | None = None

    def given(self) -> set[str]:
        return {f.name for f in fields(self) if getattr(self, f.name) is not None}


# The address parts: column, part of the input, longest text (the country is a code).
_ADDRESS = (
    ("address_line1", "line1", 200),
    ("address_line2", "line2", 200),
    ("city", "city", 100),
    ("region", "region", 100),
    ("postal_code", "postal_code", 20),
)
_ADDRESS_PARTS = {column: part for column, part, _ in _ADDRESS} | {"country": "country"}


def input_path(field: MerchantField) -> tuple[str, ...]:
    """``MerchantField.CITY``: ``("input", "address", "city")``."""
    part = _ADDRESS_PARTS.get(field.value)
    return ("input", "address", part) if part else ("input", field.value)


def _clean_url(raw: str, errors: list[FieldError], field: str) -> str | None:
    """An absolute http(s) URL with a host and no user name or password."""
    value = raw.strip()
    if not value:
        return None
    if len(value) > MAX_WEBSITE_LENGTH:
        errors.append(
            FieldError((field,), Code.TOO_LONG, f"at most {MAX_WEBSITE_LENGTH} characters")
        )
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host or parts.username:
        errors.append(
            FieldError(
                (field,), Code.INVALID, "an http:// or https:// address, e.g. https://example.com"
            )
        )
    return value


def normalize_registration_number(raw: str) -> str:
    """As registers print it, without the spaces people type: ``hrb 123 45`` is ``HRB12345``."""
    return _SPACES.sub("", raw).upper()


def _clean_registration_number(raw: str, errors: list[FieldError]) -> str | None:
    return clean_text(
        normalize_registration_number(raw),
        errors,
        "registration_number",
        max_length=MAX_REGISTRATION_NUMBER_LENGTH,
        required=False,
    )


def _clean_category(raw: str, standard: OnboardingStandard, errors: list[FieldError]) -> str | None:
    value = clean_text(raw, errors, "category", max_length=MAX_CATEGORY_LENGTH, required=False)
    if value is not None and standard.categories and value not in standard.categories:
        errors.append(
            FieldError(
                ("category",),
                Code.CATEGORY_NOT_ACCEPTED,
                "choose one of: " + ", ".join(standard.categories),
            )
        )
    return value


def _clean_address(address: Address, errors: list[FieldError]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for column, part, limit in _ADDRESS:
        raw = getattr(address, part)
        if raw is not None:
            columns[column] = clean_text(
                raw, errors, ("address", part), max_length=limit, required=False
            )
    if address.country is not None:
        country = address.country.strip().upper() or None
        if country is not None and not is_country(country):
            errors.append(
                FieldError(("address", "country"), Code.INVALID, "not an ISO 3166-1 alpha-2 code")
            )
        columns["country"] = country
    return columns


def _clean_contacts(changes: ApplicationChanges, errors: list[FieldError]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    if changes.contact_name is not None:
        columns["contact_name"] = clean_text(
            changes.contact_name, errors, "contact_name", max_length=MAX_NAME_LENGTH, required=False
        )
    if changes.contact_email is not None:
        email = changes.contact_email.strip()
        columns["contact_email"] = clean_email(email, errors, "contact_email") if email else None
    if changes.contact_phone is not None:
        columns["contact_phone"] = clean_phone(
            changes.contact_phone, errors, required=False, field="contact_phone"
        )
    if changes.website is not None:
        columns["website"] = _clean_url(changes.website, errors, "website")
    if changes.description is not None:
        columns["description"] = clean_text(
            changes.description,
            errors,
            "description",
            max_length=MAX_DESCRIPTION_LENGTH,
            required=False,
            multiline=True,
        )
    return columns


def _clean_business(
    changes: ApplicationChanges, standard: OnboardingStandard, errors: list[FieldError]
) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    if changes.business_name is not None:
        columns["business_name"] = clean_text(
            changes.business_name, errors, "business_name", max_length=MAX_NAME_LENGTH
        )
    if changes.legal_name is not None:
        columns["legal_name"] = clean_text(
            changes.legal_name, errors, "legal_name", max_length=MAX_NAME_LENGTH, required=False
        )
    if changes.registration_number is not None:
        columns["registration_number"] = _clean_registration_number(
            changes.registration_number, errors
        )
    if changes.category is not None:
        columns["category"] = _clean_category(changes.category, standard, errors)
    if changes.address is not None:
        columns |= _clean_address(changes.address, errors)
    return columns


def clean_changes(
    changes: ApplicationChanges, standard: OnboardingStandard
) -> tuple[dict[str, Any], BankDetails | None]:
    """The changes as columns, and the bank details to seal; or a DomainError naming
    every problem, under ``input``."""
    errors: list[FieldError] = []
    columns = _clean_business(changes, standard, errors) | _clean_contacts(changes, errors)
    bank = None
    if changes.bank_details is not None:
        bank = clean_bank_details(changes.bank_details, errors)
    raise_if_any(under("input", errors))
    return columns, bank


def _user_id(actor: Principal) -> int:
    if actor.user_id is None:
        raise fail((), Code.NOT_A_USER, "only a signed-in person can apply for a merchant")
    return actor.user_id


async def _write(merchant: Merchant, columns: dict[str, Any], bank: BankDetails | None) -> None:
    if bank is not None:
        columns = columns | {
            "bank_details_sealed": seal(bank, merchant.id),
            "bank_account_last4": bank.last4,
        }
    await change(merchant, **columns)


def _given_names(columns: dict[str, Any], bank: BankDetails | None) -> list[str]:
    return sorted([*columns, "bank_details"] if bank is not None else columns)


def _changed_names(
    merchant: Merchant, columns: dict[str, Any], bank: BankDetails | None
) -> list[str]:
    """Which fields differ from ``merchant`` (new bank details always do)."""
    differing = {name: value for name, value in columns.items() if getattr(merchant, name) != value}
    return _given_names(differing, bank)


async def _ensure_none_open(user_id: int) -> None:
    """ALREADY_APPLIED while an application of the user's is open. The user's row lock
    (PostgreSQL; SQLite serializes writers already) keeps two concurrent requests of one
    user from both passing the check."""
    await User.filter(id=user_id).select_for_update().first()
    if await Merchant.filter(owner_user_id=user_id).exclude(status__in=CLOSED).exists():
        raise fail((), Code.ALREADY_APPLIED, "finish or withdraw your open application first")


async def create_application(changes: ApplicationChanges, actor: Principal) -> Merchant:
    """A new draft of the actor's; ALREADY_APPLIED while another of theirs is open."""
    user_id = _user_id(actor)
    if changes.business_name is None:
        raise fail(("input", "business_name"), Code.REQUIRED, "a draft needs a business name")
    async with in_transaction(TENANT_ALIAS):
        columns, bank = clean_changes(changes, await current_standard())
        await _ensure_none_open(user_id)
        merchant = await Merchant.create(owner_user_id=user_id, **columns)
        if bank is not None:
            await _write(merchant, {}, bank)
        await note(
            merchant, "application_create", actor, details={"fields": _given_names(columns, bank)}
        )
    return merchant


async def _save(
    merchant: Merchant, changes: ApplicationChanges, actor: Principal, event: str
) -> Merchant:
    """Write the changes that differ, and remember which fields they were as ``event``."""
    if not changes.given():
        raise fail("input", Code.NOTHING_TO_CHANGE, "no field was given")
    async with in_transaction(TENANT_ALIAS):
        columns, bank = clean_changes(changes, await current_standard())
        changed = _changed_names(merchant, columns, bank)
        if not changed:
            raise fail("input", Code.NOTHING_TO_CHANGE, "every field given is as it is")
        await _write(merchant, columns, bank)
        await note(merchant, event, actor, details={"fields": changed})
    return merchant


async def update_application(
    merchant: Merchant, changes: ApplicationChanges, actor: Principal
) -> Merchant:
    """Save changes to a draft (or an application sent back for information)."""
    if Capability.EDIT_APPLICATION not in capabilities(merchant.status):
        raise cannot(merchant, "change its application")
    return await _save(merchant, changes, actor, "application_update")


PROFILE_FIELDS = frozenset(
    {"description", "website", "contact_name", "contact_email", "contact_phone"}
)


async def update_profile(
    merchant: Merchant, changes: ApplicationChanges, actor: Principal
) -> Merchant:
    """An admitted merchant's public details and contacts (the rest of the application
    is what it was approved with)."""
    if merchant.status not in ADMITTED:
        raise cannot(merchant, "change its profile")
    if changes.given() - PROFILE_FIELDS:
        raise fail("input", Code.INVALID, "only the profile's fields can change here")
    return await _save(merchant, changes, actor, "profile_update")


# -- submission ------------------------------------------------------------------------


def _has(merchant: Merchant, field: MerchantField) -> bool:
    if field is MerchantField.BANK_DETAILS:
        return merchant.bank_details_sealed is not None
    return getattr(merchant, field.value) not in (None, "")


def _field_errors(merchant: Merchant, standard: OnboardingStandard) -> list[FieldError]:
    errors = [
        FieldError(input_path(field), Code.INCOMPLETE, f"{field.value} is required")
        for field in MerchantField
        if field.value in standard.required_fields and not _has(merchant, field)
    ]
    number = merchant.registration_number
    if number and not matches(standard.registration_number_pattern, number):
        errors.append(
            FieldError(
                input_path(MerchantField.REGISTRATION_NUMBER),
                Code.INVALID,
                "not a registration number as the tenant's register issues them",
            )
        )
    if merchant.category and standard.categories and merchant.category not in standard.categories:
        errors.append(
            FieldError(
                input_path(MerchantField.CATEGORY),
                Code.CATEGORY_NOT_ACCEPTED,
                "choose one of: " + ", ".join(standard.categories),
            )
        )
    return errors


def _document_errors(
    documents: list[MerchantDocument], standard: OnboardingStandard, today: date
) -> list[FieldError]:
    current = {doc.kind: doc for doc in documents if doc.replaced_at is None}
    errors = []
    for requirement in requirements(standard):
        path = ("documents", requirement.kind.value)
        doc = current.get(requirement.kind)
        if doc is None:
            if requirement.required:
                errors.append(FieldError(path, Code.INCOMPLETE, "this document is required"))
        elif requirement.expires and doc.expires_on is None:
            errors.append(FieldError(path, Code.INCOMPLETE, "give the document's expiry date"))
        elif doc.expires_on is not None and doc.expires_on < today:
            errors.append(
                FieldError(path, Code.DOCUMENT_EXPIRED, f"expired on {doc.expires_on.isoformat()}")
            )
    return errors


def missing_items(
    merchant: Merchant,
    documents: list[MerchantDocument],
    standard: OnboardingStandard,
    today: date,
) -> list[FieldError]:
    """Everything that keeps ``merchant`` (with its ``documents``) from meeting
    ``standard``: INCOMPLETE per missing field (``input.registrationNumber``) or document
    (``documents.bankAccountProof``), DOCUMENT_EXPIRED, INVALID and CATEGORY_NOT_ACCEPTED."""
    return _field_errors(merchant, standard) + _document_errors(documents, standard, today)


async def submit(merchant: Merchant, actor: Principal) -> Merchant:
    """Check the application against the standards in force and send it to the
    automated review; every missing item is reported at once."""
    if not targets(Action.SUBMIT, merchant.status):
        raise refused_transition(merchant, Action.SUBMIT)
    async with in_transaction(TENANT_ALIAS):
        standard = await current_standard()
        documents = await MerchantDocument.filter(merchant_id=merchant.id, replaced_at=None)
        raise_if_any(missing_items(merchant, documents, standard, datetime.now(UTC).date()))
        submission = merchant.submission_count + 1
        await transition(
            merchant,
            Action.SUBMIT,
            actor,
            submission_count=submission,
            submitted_at=datetime.now(UTC),
            standard_version=standard.version,
            requested_items=[],
            risk_level=None,
        )
        await enqueue(SCREEN_JOB, {"merchant_id": merchant.id, "submission": submission})
    return merchant


async def withdraw(merchant: Merchant, reason: str, actor: Principal) -> Merchant:
    errors: list[FieldError] = []
    reason = clean_reason(reason, errors) or ""
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        # A reviewer's claim ends with the application.
        return await transition(
            merchant,
            Action.WITHDRAW,
            actor,
            reason=reason,
            claimed_by_user_id=None,
            claim_expires_at=None,
        )


async def reopen(merchant: Merchant, actor: Principal) -> Merchant:
    """A rejected application becomes a draft again, to correct and submit anew, unless
    its owner has opened another meanwhile (one open application per user)."""
    if not targets(Action.REOPEN, merchant.status):
        raise refused_transition(merchant, Action.REOPEN)  # before asking what else is open
    async with in_transaction(TENANT_ALIAS):
        await _ensure_none_open(merchant.owner_user_id)
        return await transition(merchant, Action.REOPEN, actor)
