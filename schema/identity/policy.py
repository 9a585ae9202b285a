"""The tenant's identity policy and the password rules it sets.

The platform fixes a floor and a ceiling; a tenant may only tighten within them:
passwords of at least ``PLATFORM_MIN_PASSWORD_LENGTH`` characters and at most
``MAX_PASSWORD_LENGTH`` (which also bounds what one hash costs), never one of the ~20,000
common passwords of ``common-passwords.txt.gz``, never the email's local part; and, when
the tenant asks, a longer minimum and characters of given classes.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.errors import FieldError, fail, raise_if_any
from schema.identity.models import IdentityPolicy
from schema.identity.validation import Code
from tenants.backends import TENANT_ALIAS

POLICY_ID = 1
PLATFORM_MIN_PASSWORD_LENGTH = 8  # OWASP's minimum
LONGEST_MIN_PASSWORD_LENGTH = 64  # what a tenant may raise the minimum to
MAX_PASSWORD_LENGTH = 128
SIMILARITY_MIN_LOCAL_PART = 3  # shorter local parts are only refused as the whole password
THROTTLE_AFTER_BOUNDS = (1, 50)
LOCKOUT_AFTER_BOUNDS = (3, 1000)
MAX_LINK_BASE_URL_LENGTH = 300
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt.gz")


@cache
def common_passwords() -> frozenset[str]:
    """Read once, on first use: Django's list (see the README), lower-case, one per line."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


@dataclass(frozen=True, slots=True)
class PasswordRules:
    min_length: int = PLATFORM_MIN_PASSWORD_LENGTH
    require_lowercase: bool = False
    require_uppercase: bool = False
    require_digit: bool = False
    require_symbol: bool = False

    @classmethod
    def of(cls, policy: IdentityPolicy) -> PasswordRules:
        return cls(
            min_length=policy.password_min_length,
            require_lowercase=policy.password_require_lowercase,
            require_uppercase=policy.password_require_uppercase,
            require_digit=policy.password_require_digit,
            require_symbol=policy.password_require_symbol,
        )

    def missing_classes(self, password: str) -> list[str]:
        wanted = (
            (self.require_lowercase, "a lower-case letter", str.islower),
            (self.require_uppercase, "an upper-case letter", str.isupper),
            (self.require_digit, "a digit", str.isdigit),
            (self.require_symbol, "a symbol", lambda ch: not ch.isalnum()),
        )
        return [name for on, name, test in wanted if on and not any(map(test, password))]


def password_errors(
    password: str, rules: PasswordRules, *, email: str, field: str = "password"
) -> list[FieldError]:
    """Everything wrong with ``password`` for an account with ``email``."""
    path = (field,)
    if len(password) > MAX_PASSWORD_LENGTH:  # checked first: nothing else runs on it
        return [
            FieldError(path, Code.PASSWORD_TOO_LONG, f"at most {MAX_PASSWORD_LENGTH} characters")
        ]
    errors = []
    if len(password) < rules.min_length:
        errors.append(
            FieldError(path, Code.PASSWORD_TOO_SHORT, f"at least {rules.min_length} characters")
        )
    lowered = password.lower().strip()
    if lowered in common_passwords():
        errors.append(FieldError(path, Code.PASSWORD_TOO_COMMON, "this password is too common"))
    local_part = email.partition("@")[0].lower()
    if lowered == local_part or (
        len(local_part) >= SIMILARITY_MIN_LOCAL_PART and local_part in lowered
    ):
        errors.append(
            FieldError(path, Code.PASSWORD_TOO_SIMILAR, "the password contains the email address")
        )
    if missing := rules.missing_classes(password):
        errors.append(
            FieldError(
                path, Code.PASSWORD_MISSING_CHARACTER_CLASS, "it must contain " + ", ".join(missing)
            )
        )
    return errors


async def get_policy() -> IdentityPolicy:
    return await IdentityPolicy.get(id=POLICY_ID)


async def password_rules() -> PasswordRules:
    return PasswordRules.of(await get_policy())


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    """What to change; None leaves a field as it is. ``link_base_url=""`` clears it."""

    registration_open: bool | None = None
    phone_required: bool | None = None
    email_verification_required: bool | None = None
    password_min_length: int | None = None
    password_require_lowercase: bool | None = None
    password_require_uppercase: bool | None = None
    password_require_digit: bool | None = None
    password_require_symbol: bool | None = None
    throttle_after_failures: int | None = None
    lockout_after_failures: int | None = None
    link_base_url: str | None = None

    def given(self) -> dict[str, Any]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


def _out_of_range(field: str, value: int, low: int, high: int) -> FieldError | None:
    if low <= value <= high:
        return None
    return FieldError((field,), Code.OUT_OF_RANGE, f"must be between {low} and {high}")


def _clean_link_base(raw: str, errors: list[FieldError]) -> str | None:
    """An absolute https URL (http only for a local front end), without query or fragment."""
    value = raw.strip().rstrip("/")
    if not value:
        return None
    if len(value) > MAX_LINK_BASE_URL_LENGTH:
        errors.append(
            FieldError(
                ("link_base_url",), Code.TOO_LONG, f"at most {MAX_LINK_BASE_URL_LENGTH} characters"
            )
        )
        return value
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    local = host in ("localhost", "127.0.0.1", "::1")
    if (
        parts is None
        or not host
        or not (parts.scheme == "https" or (parts.scheme == "http" and local))
        or parts.query
        or parts.fragment
        or parts.username
    ):
        errors.append(
            FieldError(
                ("link_base_url",),
                Code.INVALID,
                "must be an https:// URL without query or fragment (http:// only for localhost)",
            )
        )
    return value


def _check(current: IdentityPolicy, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes, cleaned, or a DomainError naming every bad one."""
    errors: list[FieldError] = []
    cleaned = dict(changes)
    if "link_base_url" in changes:
        cleaned["link_base_url"] = _clean_link_base(changes["link_base_url"], errors)
    merged = {f.name: cleaned.get(f.name, getattr(current, f.name)) for f in fields(PolicyChanges)}
    bounds = (
        ("password_min_length", PLATFORM_MIN_PASSWORD_LENGTH, LONGEST_MIN_PASSWORD_LENGTH),
        ("throttle_after_failures", *THROTTLE_AFTER_BOUNDS),
        ("lockout_after_failures", *LOCKOUT_AFTER_BOUNDS),
    )
    for field, low, high in bounds:
        if field in cleaned and (error := _out_of_range(field, cleaned[field], low, high)):
            errors.append(error)
    if not errors and merged["lockout_after_failures"] < merged["throttle_after_failures"]:
        errors.append(
            FieldError(
                ("lockout_after_failures",),
                Code.OUT_OF_RANGE,
                "the lock-out cannot come before the throttle "
                f"({merged['throttle_after_failures']} failures)",
            )
        )
    raise_if_any(errors)
    return cleaned


async def update_policy(changes: PolicyChanges, *, actor: str) -> IdentityPolicy:
    """Check every change first, then apply them together (version + 1 when any differs)."""
    given = changes.given()
    if not given:
        raise fail((), Code.NOTHING_TO_CHANGE, "no policy field was given")
    async with in_transaction(TENANT_ALIAS):
        current = await IdentityPolicy.filter(id=POLICY_ID).select_for_update().get()
        cleaned = _check(current, given)
        changed = {f: v for f, v in cleaned.items() if getattr(current, f) != v}
        if changed:
            for field, value in changed.items():
                setattr(current, field, value)
            current.version += 1
            current.updated_by = actor
            await current.save()
            await record(
                "identityPolicyUpdate",
                targets=[f"IdentityPolicy:{POLICY_ID}"],
                summary={"changed": changed},
            )
    return current
