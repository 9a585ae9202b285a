"""The tenant's onboarding standards: what an application must contain.

Standards are versioned and never edited: a change writes the next version, the highest
is current, and each submission records the version it was checked against, so a
decision can always be read against the rules it was made under.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.errors import FieldError, fail, raise_if_any, under
from schema.core.money import CurrencyError, decimal_to_minor
from schema.core.principal import Principal
from schema.files.checks import MEDIA_TYPES
from schema.identity.validation import clean_reason, clean_text
from schema.merchants.errors import Code
from schema.merchants.models import (
    DocumentKind,
    MerchantAgreement,
    MerchantField,
    OnboardingStandard,
)
from schema.merchants.patterns import PatternError, compiled
from tenants.backends import TENANT_ALIAS

# What the file store can check by content; a tenant picks among these.
SUPPORTED_MEDIA_TYPES = tuple(MEDIA_TYPES)
MIN_FILE_BYTES = 1024
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PATTERN_LENGTH = 200  # the column; patterns only ever run on numbers of <= 64 characters
MAX_CATEGORIES = 200
MAX_CATEGORY_LENGTH = 100  # Merchant.category
MAX_FEE_MINOR = 10**12  # a sanity bound, far above any onboarding fee


@dataclass(frozen=True, slots=True)
class DocumentRequirement:
    """A document kind applicants may upload; ``required`` ones must be there to
    submit; ``expires``: it must carry an expiry date, checked to be in the future."""

    kind: DocumentKind
    required: bool = True
    expires: bool = False

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind.value, "required": self.required, "expires": self.expires}

    @classmethod
    def of(cls, stored: dict[str, Any]) -> DocumentRequirement:
        return cls(DocumentKind(stored["kind"]), bool(stored["required"]), bool(stored["expires"]))


@dataclass(frozen=True, slots=True)
class Fee:
    amount: Decimal
    currency: str


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # a fee left as it is (None removes it)


@dataclass(frozen=True, slots=True)
class StandardsChanges:
    """What to change; None (``KEEP`` for the fee) leaves a setting as it is."""

    required_fields: list[MerchantField] | None = None
    documents: list[DocumentRequirement] | None = None
    accepted_types: list[str] | None = None
    max_file_bytes: int | None = None
    categories: list[str] | None = None
    restricted_categories: list[str] | None = None
    registration_number_pattern: str | None = None
    fee: Fee | Literal[_Keep.KEEP] | None = KEEP

    def given(self) -> dict[str, Any]:
        """The settings to change (the fee's None too: it removes the fee)."""
        given = {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}
        if self.fee is KEEP:
            del given["fee"]
        elif self.fee is None:
            given["fee"] = None
        return given


async def current_standard() -> OnboardingStandard:
    """The standards in force: the highest version (version 1 comes with the tenant)."""
    row = await OnboardingStandard.all().order_by("-version").first()
    if row is None:  # revision t0010 writes version 1: a schema without it is broken
        raise LookupError("the tenant has no onboarding standards")
    return row


async def current_agreement_version() -> str | None:
    """The label of the agreement applicants will accept: the latest published."""
    latest = await MerchantAgreement.all().order_by("-published_at", "-id").first()
    return latest.version if latest is not None else None


def requirements(standard: OnboardingStandard) -> list[DocumentRequirement]:
    return [DocumentRequirement.of(item) for item in standard.documents]


def _unique(values: list[Any], field: str, errors: list[FieldError]) -> None:
    if len(set(values)) != len(values):
        errors.append(FieldError((field,), Code.INVALID, "each value may appear once"))


def _clean_categories(raw: list[str], field: str, errors: list[FieldError]) -> list[str]:
    if len(raw) > MAX_CATEGORIES:
        errors.append(FieldError((field,), Code.TOO_LONG, f"at most {MAX_CATEGORIES} categories"))
        return raw
    cleaned = [
        clean_text(value, errors, (field, str(i)), max_length=MAX_CATEGORY_LENGTH) or ""
        for i, value in enumerate(raw)
    ]
    _unique(cleaned, field, errors)
    return cleaned


def _clean_pattern(raw: str, errors: list[FieldError]) -> str:
    field = ("registration_number_pattern",)
    if not raw:
        errors.append(FieldError(field, Code.REQUIRED, "a pattern is required"))
    elif len(raw) > MAX_PATTERN_LENGTH:
        errors.append(FieldError(field, Code.TOO_LONG, f"at most {MAX_PATTERN_LENGTH} characters"))
    else:
        try:
            compiled(raw)
        except PatternError as exc:
            errors.append(FieldError(field, Code.INVALID, f"not a pattern RE2 accepts: {exc}"))
    return raw


def _clean_fee(fee: Fee, errors: list[FieldError]) -> tuple[int, str] | None:
    try:
        minor = decimal_to_minor(fee.amount, fee.currency)
    except CurrencyError as exc:
        errors.append(FieldError(("fee",), Code.INVALID, str(exc)))
        return None
    if not 0 < minor <= MAX_FEE_MINOR:
        errors.append(FieldError(("fee", "amount"), Code.OUT_OF_RANGE, "must be above zero"))
        return None
    return minor, fee.currency


def _clean(
    given: dict[str, Any], current: OnboardingStandard, errors: list[FieldError]
) -> dict[str, Any]:
    """The given settings as columns; their problems go to ``errors``."""
    cleaned: dict[str, Any] = {}
    if (required := given.get("required_fields")) is not None:
        _unique(required, "required_fields", errors)
        # In declaration order, so the same set is always the same list.
        cleaned["required_fields"] = [f.value for f in MerchantField if f in required]
    if (documents := given.get("documents")) is not None:
        _unique([d.kind for d in documents], "documents", errors)
        cleaned["documents"] = [d.as_json() for d in documents]
    if (types := given.get("accepted_types")) is not None:
        unsupported = [t for t in types if t not in SUPPORTED_MEDIA_TYPES]
        if unsupported or not types:
            errors.append(
                FieldError(
                    ("accepted_types",),
                    Code.INVALID,
                    "choose one or more of " + ", ".join(SUPPORTED_MEDIA_TYPES),
                )
            )
        _unique(types, "accepted_types", errors)
        cleaned["accepted_types"] = types
    if (size := given.get("max_file_bytes")) is not None:
        if not MIN_FILE_BYTES <= size <= MAX_FILE_BYTES:
            errors.append(
                FieldError(
                    ("max_file_bytes",),
                    Code.OUT_OF_RANGE,
                    f"must be between {MIN_FILE_BYTES} and {MAX_FILE_BYTES} bytes",
                )
            )
        cleaned["max_file_bytes"] = size
    for field in ("categories", "restricted_categories"):
        if (values := given.get(field)) is not None:
            cleaned[field] = _clean_categories(values, field, errors)
    if (pattern := given.get("registration_number_pattern")) is not None:
        cleaned["registration_number_pattern"] = _clean_pattern(pattern, errors)
    if "fee" in given:
        fee = given["fee"] and _clean_fee(given["fee"], errors)
        cleaned["fee_amount"], cleaned["fee_currency"] = fee or (None, None)
    categories = cleaned.get("categories", current.categories)
    restricted = cleaned.get("restricted_categories", current.restricted_categories)
    if categories and not set(restricted) <= set(categories):
        errors.append(
            FieldError(
                ("restricted_categories",),
                Code.INVALID,
                "restricted categories must be among the categories",
            )
        )
    return cleaned


_COPIED = (
    "required_fields",
    "documents",
    "accepted_types",
    "max_file_bytes",
    "categories",
    "restricted_categories",
    "registration_number_pattern",
    "fee_amount",
    "fee_currency",
)


async def update_standards(
    changes: StandardsChanges, reason: str, actor: Principal
) -> OnboardingStandard:
    """Write the next version: the current one with ``changes``. NOTHING_TO_CHANGE when
    nothing is given or everything given is as it is."""
    errors: list[FieldError] = []
    reason = clean_reason(reason, errors) or ""
    async with in_transaction(TENANT_ALIAS):
        current = await current_standard()
        input_errors: list[FieldError] = []
        cleaned = _clean(changes.given(), current, input_errors)
        raise_if_any(errors + under("input", input_errors))
        changed = sorted(name for name, value in cleaned.items() if getattr(current, name) != value)
        if not changed:
            raise fail((), Code.NOTHING_TO_CHANGE, "these are the standards in force already")
        settings = {name: cleaned.get(name, getattr(current, name)) for name in _COPIED}
        try:
            new = await OnboardingStandard.create(
                version=current.version + 1,
                created_at=datetime.now(UTC),
                created_by=actor.subject,
                reason=reason,
                **settings,
            )
        except IntegrityError:
            raise fail((), Code.CONFLICT, "the standards changed meanwhile: reload them") from None
        await record(
            "merchantOnboardingStandardsUpdate",
            targets=[f"MerchantOnboardingStandard:{new.version}"],
            summary={"version": new.version, "changed": changed, "reason": reason},
        )
    return new
