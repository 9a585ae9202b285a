"""Complete applications for the review tests, written as the applications part leaves
them: every field the default standards require, the three required documents, bank
details sealed through ``service.bank_details``, then submitted (submission 1, standards v1) or
already through the automated review."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from schema.files.service import store_upload
from schema.identity.models import User
from schema.merchants.models import DocumentKind, Merchant, MerchantDocument, RiskLevel
from schema.merchants.service.bank_details import BankDetails, seal
from schema.merchants.service.documents import PURPOSE
from schema.merchants.status import MerchantStatus
from tests.schema.files.samples import PDF, upload

IBAN = "DE89370400440532013000"  # a valid German IBAN (checksum and format)
GOOD_BANK = BankDetails(account_holder="Ada's Bakery GmbH", country="DE", iban=IBAN)
A_YEAR_ON = date.today() + timedelta(days=365)


def complete_fields(**overrides: Any) -> dict[str, Any]:
    return {
        "business_name": "Ada's Bakery",
        "legal_name": "Ada's Bakery GmbH",
        "registration_number": "HRB-12345",
        "category": "food",
        "contact_name": "Ada Applicant",
        "contact_email": "ada@bakery.example",
        "contact_phone": "+4930123456",
        "address_line1": "Brotstrasse 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
        **overrides,
    }


async def add_document(
    merchant: Merchant, kind: DocumentKind, expires_on: date | None = None
) -> MerchantDocument:
    """A stored PDF as the merchant's document of ``kind``, whatever its status (the
    documents service allows additions only where the status does)."""
    stored = await store_upload(
        upload(PDF, f"{kind}.pdf", "application/pdf"),
        purpose=PURPOSE,
        accepted_types=("application/pdf",),
        max_bytes=len(PDF),
    )
    return await MerchantDocument.create(
        merchant_id=merchant.id, kind=kind, file_id=stored.id, filename=stored.filename,
        media_type=stored.media_type, size=stored.size, sha256=stored.sha256,
        expires_on=expires_on, uploaded_by=f"user:{merchant.owner_user_id}",
        uploaded_at=datetime.now(UTC),
    )  # fmt: skip


async def seal_for(merchant: Merchant, details: BankDetails | None) -> None:
    """``details`` sealed as the application's (or none)."""
    sealed, last4 = (seal(details, merchant.id), details.last4) if details else (None, None)
    await Merchant.filter(id=merchant.id).update(
        bank_details_sealed=sealed, bank_account_last4=last4
    )
    merchant.bank_details_sealed, merchant.bank_account_last4 = sealed, last4


async def submitted(
    owner: User,
    *,
    documents: dict[DocumentKind, date | None] | None = None,
    bank: BankDetails | None = GOOD_BANK,
    submitted_at: datetime | None = None,
    status: MerchantStatus = MerchantStatus.SUBMITTED,
    **fields: Any,
) -> Merchant:
    """A complete application in ``status`` (submission 1 under standards v1)."""
    merchant = await Merchant.create(
        owner_user_id=owner.id, status=status, submission_count=1, standard_version=1,
        submitted_at=submitted_at or datetime.now(UTC), **complete_fields(**fields),
    )  # fmt: skip
    if documents is None:
        documents = {
            DocumentKind.BUSINESS_LICENCE: None,
            DocumentKind.REPRESENTATIVE_IDENTITY: A_YEAR_ON,
            DocumentKind.BANK_ACCOUNT_PROOF: None,
        }
    for kind, expires_on in documents.items():
        await add_document(merchant, kind, expires_on)
    await seal_for(merchant, bank)
    return merchant


async def in_review(owner: User, risk: RiskLevel = RiskLevel.LOW, **fields: Any) -> Merchant:
    """An application through the automated review, waiting for a reviewer."""
    return await submitted(owner, status=MerchantStatus.IN_REVIEW, risk_level=risk, **fields)
