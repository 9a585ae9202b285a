"""The tenant's watch list: names, registration numbers, e-mail addresses (or whole
domains, ``@example.com``) and phone numbers that make the automated review raise an
application's risk to HIGH, for a person to look at.

Values are stored normalized, exactly as the automated review normalizes what it
compares (``normalize``), so a listing matches however an applicant spells it:
"ACME Trading GmbH", "Acme-Trading" and "acme trading" are one name.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import phonenumbers
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.errors import FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.identity.validation import clean_reason
from schema.merchants.errors import Code
from schema.merchants.models import Merchant, WatchListEntry, WatchListKind
from tenants.backends import TENANT_ALIAS

MAX_VALUE = 254

# Legal forms dropped from the end of a name: "Acme Ltd" is "Acme" for the comparison.
COMPANY_SUFFIXES = frozenset(
    {
        "ab", "ag", "aps", "bv", "co", "company", "corp", "corporation", "gmbh", "inc",
        "incorporated", "kg", "kk", "limited", "llc", "llp", "lp", "ltd", "nv", "ohg", "oy",
        "plc", "pty", "sa", "sarl", "sas", "spa", "srl", "ug",
    }
)  # fmt: skip
# Removed without leaving a gap: "A.B.C." is "abc", "Ada's" is "adas".
_JOINERS = re.compile(r"[.'\u2019\u02bc`]")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DOMAIN = re.compile(r"@[^@\s]+\.[^@\s]+")


def _folded(value: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def normalize_name(value: str) -> str:
    """Case and Unicode variants folded, punctuation and spacing collapsed, trailing
    legal forms dropped (unless nothing else is left)."""
    text = _JOINERS.sub("", _folded(value))
    words = "".join(" " if unicodedata.category(c)[0] in "PSZC" else c for c in text).split()
    while len(words) > 1 and words[-1] in COMPANY_SUFFIXES:
        words.pop()
    return " ".join(words)


def normalize_email(value: str) -> str | None:
    """An address (``ada@example.com``) or a domain (``@example.com``), folded; None
    when it is neither."""
    text = _folded(value).strip()
    return text if _ADDRESS.fullmatch(text) or _DOMAIN.fullmatch(text) else None


def normalize_phone(value: str) -> str | None:
    """E.164 (``+4930123456``); None unless it is a possible international number."""
    try:
        number = phonenumbers.parse(unicodedata.normalize("NFKC", value), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_registration(value: str) -> str:
    """Letters and digits only, upper case: "hrb 123/45" is "HRB12345"."""
    return "".join(c for c in unicodedata.normalize("NFKC", value).upper() if c.isalnum())


def normalize(kind: WatchListKind, value: str) -> str | None:
    """``value`` as the watch list stores and compares it; None when it is not one."""
    if kind is WatchListKind.NAME:
        found: str | None = normalize_name(value)
    elif kind is WatchListKind.EMAIL:
        found = normalize_email(value)
    elif kind is WatchListKind.PHONE:
        found = normalize_phone(value)
    else:
        found = normalize_registration(value)
    return found or None


def compared_values(merchant: Merchant) -> dict[WatchListKind, dict[str, str]]:
    """What the automated review looks up for ``merchant``: per kind, each normalized
    value and the application field it comes from."""
    values: dict[WatchListKind, dict[str, str]] = {kind: {} for kind in WatchListKind}

    def add(kind: WatchListKind, raw: str | None, field: str) -> None:
        found = normalize(kind, raw) if raw else None
        if found is not None:
            values[kind].setdefault(found, field)

    add(WatchListKind.NAME, merchant.business_name, "business_name")
    add(WatchListKind.NAME, merchant.legal_name, "legal_name")
    add(WatchListKind.REGISTRATION_NUMBER, merchant.registration_number, "registration_number")
    add(WatchListKind.PHONE, merchant.contact_phone, "contact_phone")
    email = normalize_email(merchant.contact_email or "")
    if email is not None:
        add(WatchListKind.EMAIL, email, "contact_email")
        add(WatchListKind.EMAIL, "@" + email.partition("@")[2], "contact_email")
    return values


async def listed(values: dict[WatchListKind, dict[str, str]]) -> list[WatchListEntry]:
    """The entries matching any of ``values`` (as ``compared_values`` makes them)."""
    wanted = [Q(kind=kind, value__in=list(found)) for kind, found in values.items() if found]
    if not wanted:
        return []
    return await WatchListEntry.filter(Q(*wanted, join_type=Q.OR)).order_by("id")


def _clean_value(kind: WatchListKind, value: str, errors: list[FieldError]) -> str:
    if not value.strip():
        errors.append(FieldError(("value",), Code.REQUIRED, "give the value to watch for"))
        return ""
    found = normalize(kind, value)
    if found is None:
        message = {
            WatchListKind.EMAIL: "an address (ada@example.com) or a domain (@example.com)",
            WatchListKind.PHONE: "a phone number in international form (+4930123456)",
        }.get(kind, "nothing is left of it once normalized")
        errors.append(FieldError(("value",), Code.INVALID, message))
        return ""
    if len(found) > MAX_VALUE:
        errors.append(FieldError(("value",), Code.TOO_LONG, f"at most {MAX_VALUE} characters"))
    return found


def _ref(entry_id: int) -> str:
    return f"MerchantWatchListEntry:{entry_id}"


async def add_entry(
    actor: Principal, kind: WatchListKind, value: str, reason: str
) -> WatchListEntry:
    """List ``value`` (normalized); ALREADY_LISTED when it is listed under ``kind``."""
    errors: list[FieldError] = []
    normalized = _clean_value(kind, value, errors)
    reason = clean_reason(reason, errors) or ""
    raise_if_any(errors)
    already = fail("value", Code.ALREADY_LISTED, f"{normalized!r} is on the watch list already")
    async with in_transaction(TENANT_ALIAS):
        if await WatchListEntry.exists(kind=kind, value=normalized):
            raise already
        try:
            async with in_transaction(TENANT_ALIAS):  # a savepoint: the unique index
                entry = await WatchListEntry.create(
                    kind=kind,
                    value=normalized,
                    reason=reason,
                    created_by=actor.subject,
                    created_at=datetime.now(UTC),
                )
        except IntegrityError:
            raise already from None
        summary = {"kind": kind, "value": normalized, "reason": reason}
        await record("merchantWatchListEntryAdd", targets=[_ref(entry.id)], summary=summary)
    return entry


async def remove_entry(entry_id: int | None, reason: str) -> None:
    """Take an entry off the list (NOT_FOUND when it is not on it)."""
    errors: list[FieldError] = []
    reason = clean_reason(reason, errors) or ""
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        entry = await WatchListEntry.get_or_none(id=entry_id) if entry_id else None
        if entry is None:
            raise fail("id", Code.NOT_FOUND, "no such watch list entry")
        await entry.delete()
        summary = {"kind": entry.kind, "value": entry.value, "reason": reason}
        await record("merchantWatchListEntryRemove", targets=[_ref(entry.id)], summary=summary)


def entries(kind: WatchListKind | None = None) -> QuerySet[WatchListEntry]:
    """The list (for paging), of one kind only when given."""
    return WatchListEntry.all() if kind is None else WatchListEntry.filter(kind=kind)
