"""Checking and normalizing what people type: emails, phone numbers, names, reasons.

Each ``clean_*`` returns the normalized value and appends a ``FieldError`` to ``errors``
when the input is refused, so an operation reports every bad field at once and changes
nothing. Lengths are checked before any parsing, so an oversized value costs nothing.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from schema.core.errors import FieldError

MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit, less the angle brackets
MAX_PHONE_INPUT_LENGTH = 32  # "+44 (0) 20 7946 0958 ext. 1234" and the like
MAX_NAME_LENGTH = 200
MAX_REASON_LENGTH = 1000


class Code(StrEnum):
    """Every error code the identity services raise; each mutation's enum is a subset."""

    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID = "INVALID"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NOTHING_TO_CHANGE = "NOTHING_TO_CHANGE"
    NOT_FOUND = "NOT_FOUND"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    SAME_EMAIL = "SAME_EMAIL"
    REGISTRATION_CLOSED = "REGISTRATION_CLOSED"
    WRONG_PASSWORD = "WRONG_PASSWORD"
    THROTTLED = "THROTTLED"  # too many wrong passwords: wait
    LOCKED = "LOCKED"  # the account is locked until an administrator unlocks it
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    PASSWORD_TOO_COMMON = "PASSWORD_TOO_COMMON"
    PASSWORD_TOO_SIMILAR = "PASSWORD_TOO_SIMILAR"
    PASSWORD_MISSING_CHARACTER_CLASS = "PASSWORD_MISSING_CHARACTER_CLASS"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_USED = "TOKEN_USED"
    MERCHANT_REQUIRED = "MERCHANT_REQUIRED"
    MERCHANT_NOT_ALLOWED = "MERCHANT_NOT_ALLOWED"
    ALREADY_DEACTIVATED = "ALREADY_DEACTIVATED"
    NOT_DEACTIVATED = "NOT_DEACTIVATED"
    NOT_LOCKED = "NOT_LOCKED"
    SELF_NOT_ALLOWED = "SELF_NOT_ALLOWED"  # deactivating yourself, deciding your own case
    NOT_A_USER = "NOT_A_USER"  # a client or system principal where a user must act
    INVALID_TRANSITION = "INVALID_TRANSITION"


def _has_control_characters(value: str, allowed: str = "") -> bool:
    # Cc only: format characters (Cf) such as the zero-width non-joiner belong in names.
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value)


def clean_email(raw: str, errors: list[FieldError], field: str = "email") -> str:
    """Lower-cased and syntax-checked (no DNS lookups: this runs offline and fast)."""
    value = raw.strip()
    if not value:
        errors.append(FieldError((field,), Code.REQUIRED, "an email address is required"))
    elif len(value) > MAX_EMAIL_LENGTH:
        errors.append(FieldError((field,), Code.TOO_LONG, f"at most {MAX_EMAIL_LENGTH} characters"))
    else:
        try:
            value = validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            errors.append(FieldError((field,), Code.INVALID, str(exc)))
        else:
            if len(value) > MAX_EMAIL_LENGTH:  # a normalized form can be longer
                errors.append(
                    FieldError((field,), Code.TOO_LONG, f"at most {MAX_EMAIL_LENGTH} characters")
                )
    return value


def lookup_email(raw: str) -> str | None:
    """The stored form of an email someone types to sign in or reset, or None when it
    cannot be anyone's: no error, these answers must not differ for bad input."""
    errors: list[FieldError] = []
    value = clean_email(raw, errors)
    return None if errors else value


def clean_phone(
    raw: str | None, errors: list[FieldError], *, required: bool, field: str = "phone"
) -> str | None:
    """E.164 (``+442079460958``) from any international notation."""
    value = (raw or "").strip()
    if not value:
        if required:
            errors.append(FieldError((field,), Code.REQUIRED, "a phone number is required"))
        return None
    if len(value) > MAX_PHONE_INPUT_LENGTH:
        errors.append(
            FieldError((field,), Code.TOO_LONG, f"at most {MAX_PHONE_INPUT_LENGTH} characters")
        )
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        errors.append(
            FieldError(
                (field,),
                Code.INVALID,
                "not a valid phone number: use the international form, e.g. +44 20 7946 0958",
            )
        )
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_text(
    raw: str | None,
    errors: list[FieldError],
    field: str | tuple[str, ...],
    *,
    max_length: int,
    required: bool = True,
    multiline: bool = False,
) -> str | None:
    """Trimmed text of bounded length without control characters (but line breaks and
    tabs when ``multiline``). ``field`` is a name or a path (``documents.0.reference``)."""
    path = (field,) if isinstance(field, str) else field
    value = (raw or "").strip()
    if not value:
        if required:
            errors.append(FieldError(path, Code.REQUIRED, f"{path[-1]} is required"))
        return None
    if len(value) > max_length:
        errors.append(FieldError(path, Code.TOO_LONG, f"at most {max_length} characters"))
    elif _has_control_characters(value, "\n\t" if multiline else ""):
        errors.append(FieldError(path, Code.INVALID, "control characters are not allowed"))
    return value


def clean_name(raw: str, errors: list[FieldError], field: str = "full_name") -> str:
    return clean_text(raw, errors, field, max_length=MAX_NAME_LENGTH) or ""


def clean_reason(raw: str | None, errors: list[FieldError], *, required: bool = True) -> str | None:
    return clean_text(
        raw, errors, "reason", max_length=MAX_REASON_LENGTH, required=required, multiline=True
    )
