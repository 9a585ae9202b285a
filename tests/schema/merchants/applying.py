"""Helpers of the application tests: a complete application, its documents, and moving a
merchant along the state machine the way the other parts of the domain would."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from schema.core.principal import system_principal
from schema.files.service import store_upload
from schema.merchants.models import DocumentKind, Merchant, MerchantDocument
from schema.merchants.service.documents import PURPOSE, add_document
from schema.merchants.service.lifecycle import transition
from schema.merchants.status import Action, MerchantStatus
from tenants.backends import TENANT_ALIAS
from tests.schema.files.samples import PDF, upload

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
REQUIRED_KINDS = (
    DocumentKind.BUSINESS_LICENCE,
    DocumentKind.REPRESENTATIVE_IDENTITY,
    DocumentKind.BANK_ACCOUNT_PROOF,
)
EXPIRING = frozenset({DocumentKind.REPRESENTATIVE_IDENTITY})


async def add_documents(merchant: Merchant) -> list[MerchantDocument]:
    """The documents the default standards require, as PDFs (the identity document
    expiring in a year)."""
    added = []
    for kind in REQUIRED_KINDS:
        stored = await store_upload(
            upload(PDF, f"{kind.value}.pdf", "application/pdf"),
            purpose=PURPOSE,
            accepted_types=("application/pdf",),
            max_bytes=len(PDF),
        )
        expires = date.today() + timedelta(days=365) if kind in EXPIRING else None
        added.append(await add_document(merchant, kind, stored, expires, SYSTEM))
    return added


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
