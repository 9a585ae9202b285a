"""A merchant's bank details: checked, then sealed at rest.

They are sealed with AES-256-GCM under the platform secret (``SecretRing``, purpose
``merchant-bank-details``), bound to the tenant and the merchant: copied to another
merchant or restored into another tenant, the value no longer opens. Only the last four
characters of the account number are kept in clear, for display; the API never returns
the rest.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import orjson

from schema.core.countries import is_country
from schema.core.errors import FieldError
from schema.identity.validation import MAX_NAME_LENGTH, clean_text
from schema.merchants.errors import Code
from schema.merchants.models import Merchant
from schema.oauth.config import oauth_config
from tenants.scope import current_tenant

SEAL_PURPOSE = "merchant-bank-details"
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_ACCOUNT_NUMBER = re.compile(r"[A-Z0-9]{4,34}")
_BANK_CODE = re.compile(r"[A-Z0-9]{1,20}")
_SEPARATORS = re.compile(r"[\s-]+")
MAX_INPUT_LENGTH = 64  # checked before any parsing


@dataclass(frozen=True, slots=True)
class BankDetails:
    """Either an IBAN, or an account number with the bank's code (sort code, routing
    number, ...). ``country``: ISO 3166-1 alpha-2 of the bank."""

    account_holder: str
    country: str
    iban: str | None = None
    account_number: str | None = None
    bank_code: str | None = None

    @property
    def last4(self) -> str:
        return (self.iban or self.account_number or "")[-4:]


def iban_checksum_ok(iban: str) -> bool:
    """ISO 13616: the country code and check digits moved to the end, letters as
    numbers (A=10), the whole modulo 97 is 1."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _compact(raw: str | None) -> str:
    return _SEPARATORS.sub("", raw or "").upper()


def _check_format(
    value: str, pattern: re.Pattern[str], path: tuple[str, ...], errors: list[FieldError]
) -> None:
    if len(value) > MAX_INPUT_LENGTH:
        errors.append(FieldError(path, Code.TOO_LONG, f"at most {MAX_INPUT_LENGTH} characters"))
    elif not pattern.fullmatch(value):
        errors.append(FieldError(path, Code.INVALID, "letters and digits only, of a valid length"))


def _check_iban(iban: str, country: str, path: tuple[str, ...], errors: list[FieldError]) -> None:
    before = len(errors)
    _check_format(iban, _IBAN, path, errors)
    if len(errors) > before:
        return
    if not iban_checksum_ok(iban):
        errors.append(FieldError(path, Code.INVALID, "the IBAN's check digits do not match"))
    elif iban[:2] != country:
        errors.append(FieldError(path, Code.INVALID, f"an IBAN of {country} starts {country}"))


def clean_bank_details(
    given: BankDetails, errors: list[FieldError], field: str = "bank_details"
) -> BankDetails:
    """``given`` normalized (upper case, no spaces or dashes), its problems in ``errors``."""
    holder = clean_text(
        given.account_holder, errors, (field, "account_holder"), max_length=MAX_NAME_LENGTH
    )
    country = given.country.strip().upper()
    if not is_country(country):
        errors.append(
            FieldError((field, "country"), Code.INVALID, "not an ISO 3166-1 alpha-2 code")
        )
    iban, number, code = (
        _compact(given.iban),
        _compact(given.account_number),
        _compact(given.bank_code),
    )
    if iban and (number or code):
        errors.append(
            FieldError((field,), Code.INVALID, "give an IBAN or an account number, not both")
        )
    elif iban:
        _check_iban(iban, country, (field, "iban"), errors)
    elif number or code:
        _check_format(number, _ACCOUNT_NUMBER, (field, "account_number"), errors)
        _check_format(code, _BANK_CODE, (field, "bank_code"), errors)
    else:
        errors.append(
            FieldError((field,), Code.REQUIRED, "an IBAN, or an account number and bank code")
        )
    return BankDetails(holder or "", country, iban or None, number or None, code or None)


def _associated(merchant_id: int) -> str:
    return f"{current_tenant().id}:merchant:{merchant_id}"


def seal(details: BankDetails, merchant_id: int) -> str:
    return oauth_config().secrets.seal(
        orjson.dumps(asdict(details)), purpose=SEAL_PURPOSE, associated=_associated(merchant_id)
    )


def open_bank_details(merchant: Merchant) -> BankDetails | None:
    """The merchant's bank details (for the automated review and payouts), or None when
    none were given. ``SealError`` when they do not open here."""
    if merchant.bank_details_sealed is None:
        return None
    raw = oauth_config().secrets.open(
        merchant.bank_details_sealed, purpose=SEAL_PURPOSE, associated=_associated(merchant.id)
    )
    return BankDetails(**orjson.loads(raw))
