"""A merchant's bank details, sealed at rest.

The details are sealed as JSON with the platform secret (``SAAS_SECRET_KEY``, through
``schema.oauth.config``'s ring, so they rotate with it), for the purpose
``merchant-bank-details`` and bound to the tenant and the merchant: a sealed value
copied to another merchant or restored into another tenant does not open. Only the
last four characters of the account number are kept in clear, for display.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import orjson

from schema.merchants.models import Merchant
from schema.oauth.config import oauth_config
from tenants.scope import current_tenant

PURPOSE = "merchant-bank-details"


@dataclass(frozen=True, slots=True)
class BankDetails:
    account_holder: str
    iban: str | None = None  # compact, upper case
    account_number: str | None = None  # where there is no IBAN
    bank_code: str | None = None  # routing number, sort code, BSB... (with account_number)
    bic: str | None = None

    @property
    def last4(self) -> str:
        return (self.iban or self.account_number or "")[-4:]


def _associated(merchant_id: int) -> str:
    return f"{current_tenant().id}:merchant:{merchant_id}"


def seal_bank_details(merchant_id: int, details: BankDetails) -> tuple[str, str]:
    """The sealed details and the last four characters of the account, for the
    merchant's ``bank_details_sealed`` and ``bank_account_last4``."""
    sealed = oauth_config().secrets.seal(
        orjson.dumps(asdict(details)), purpose=PURPOSE, associated=_associated(merchant_id)
    )
    return sealed, details.last4


def open_bank_details(merchant: Merchant) -> BankDetails | None:
    """The merchant's bank details, None when none were given. Raises
    ``schema.oauth.sealing.SealError`` when they do not open here."""
    if merchant.bank_details_sealed is None:
        return None
    raw = oauth_config().secrets.open(
        merchant.bank_details_sealed, purpose=PURPOSE, associated=_associated(merchant.id)
    )
    return BankDetails(**orjson.loads(raw))
