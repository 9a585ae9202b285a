"""Helpers of the application tests: a complete application, its documents, and moving a
merchant along the state machine the way the other parts of the domain would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from schema.core.principal import system_principal
from schema.merchants.models import DocumentKind, Merchant, MerchantDocument
from schema.merchants.service.lifecycle import transition
from schema.merchants.status import Action, MerchantStatus
from tenants.backends import TENANT_ALIAS

IBAN = "DE89 3704 0044 0532 0130 00"
COMPLETE: dict[str, Any] = {
    "businessName": "Ada's Bakery",
    "legalName": "Ada's Bakery GmbH",
    "registrationNumber": "hrb 123 45",
    "category": "food",
    "description": "Bread, daily.",
    "website": "https://bakery.example",
    "contactName": "Ada Lovelace",
    "contactEmail": "Ada@Bakery.example",
    "contactPhone": "+44 20 7946 0958",
    "address": {"line1": "1 Mill Lane", "city": "Berlin", "postalCode": "10115", "country": "de"},
    "bankDetails": {"accountHolder": "Ada's Bakery GmbH", "country": "DE", "iban": IBAN},
}
SYSTEM = system_principal("tests")


async def add_documents(merchant: Merchant, *, expires_on: date | None = None) -> None:
    """The documents the default standards require (the identity one expiring in a year,
    or on ``expires_on``)."""
    expiry = expires_on or date.today() + timedelta(days=365)
    for kind in (
        DocumentKind.BUSINESS_LICENCE,
        DocumentKind.REPRESENTATIVE_IDENTITY,
        DocumentKind.BANK_ACCOUNT_PROOF,
    ):
        await MerchantDocument.create(
            merchant_id=merchant.id,
            kind=kind,
            file_id=1,
            filename=f"{kind.value}.pdf",
            media_type="application/pdf",
            size=2048,
            sha256="0" * 64,
            expires_on=expiry if kind is DocumentKind.REPRESENTATIVE_IDENTITY else None,
            uploaded_by="user:1",
            uploaded_at=datetime.now(UTC),
        )


# The usual way to each status from a submitted application.
_PATHS: dict[MerchantStatus, tuple[Action, ...]] = {
    MerchantStatus.IN_REVIEW: (Action.SCREEN_PASS,),
    MerchantStatus.NEEDS_INFORMATION: (Action.SCREEN_RETURN,),
    MerchantStatus.REJECTED: (Action.SCREEN_PASS, Action.REJECT),
}


async def move(merchant_id: int, status: MerchantStatus) -> Merchant:
    """A SUBMITTED merchant moved on to ``status`` as the review and agreement parts would."""
    merchant = await Merchant.get(id=merchant_id)
    async with in_transaction(TENANT_ALIAS):
        for action in _PATHS[status]:
            await transition(merchant, action, SYSTEM)
    return merchant
