"""A merchant's supporting documents: added while the application is being written (or
sent back for information), and renewed by an admitted merchant (a licence that
expires, a new bank account).

A merchant has at most one current document of each kind: adding one replaces the
earlier (its row stays, with ``replaced_at``, so what was submitted remains known).
Every addition and removal is in the merchant's history; adding one also bumps the
merchant's version, so a document cannot slip in after a concurrent submission.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from tortoise.transactions import in_transaction

from schema.core.errors import FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.files.models import StoredFile
from schema.files.service import UploadedFile, discard_file, store_upload
from schema.merchants.errors import Code
from schema.merchants.models import DocumentKind, Merchant, MerchantDocument, OnboardingStandard
from schema.merchants.service.lifecycle import cannot, change, note
from schema.merchants.service.standards import current_standard, requirements
from schema.merchants.status import ADMITTED, Capability, capabilities
from tenants.backends import TENANT_ALIAS

PURPOSE = "merchant_document"
LOGO_PURPOSE = "merchant_logo"
LOGO_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_LOGO_BYTES = 2 * 1024 * 1024


def documents_may_change(merchant: Merchant) -> bool:
    """While the application is being written, and once admitted (renewals)."""
    return (
        Capability.EDIT_APPLICATION in capabilities(merchant.status) or merchant.status in ADMITTED
    )


def _ensure_changeable(merchant: Merchant) -> None:
    if not documents_may_change(merchant):
        raise cannot(merchant, "change its documents")


def _problems(
    kind: DocumentKind, expires_on: date | None, standard: OnboardingStandard
) -> list[FieldError]:
    requirement = next((r for r in requirements(standard) if r.kind is kind), None)
    errors = []
    if requirement is None:
        kinds = ", ".join(r.kind.value for r in requirements(standard))
        errors.append(
            FieldError(("kind",), Code.DOCUMENT_KIND_NOT_ACCEPTED, f"the standards ask for {kinds}")
        )
    elif requirement.expires and expires_on is None:
        errors.append(
            FieldError(("expires_on",), Code.REQUIRED, "give the date this document expires")
        )
    if expires_on is not None and expires_on < datetime.now(UTC).date():
        errors.append(
            FieldError(("expires_on",), Code.DOCUMENT_EXPIRED, "this document has expired")
        )
    return errors


async def _add(
    merchant: Merchant,
    kind: DocumentKind,
    stored_file: StoredFile,
    expires_on: date | None,
    actor: Principal,
) -> MerchantDocument:
    now = datetime.now(UTC)
    await change(merchant)  # CONFLICT if the merchant moved meanwhile
    replaced = await MerchantDocument.filter(
        merchant_id=merchant.id, kind=kind, replaced_at=None
    ).update(replaced_at=now)
    document = await MerchantDocument.create(
        merchant_id=merchant.id,
        kind=kind,
        file_id=stored_file.id,
        filename=stored_file.filename,
        media_type=stored_file.media_type,
        size=stored_file.size,
        sha256=stored_file.sha256,
        expires_on=expires_on,
        uploaded_by=actor.subject,
        uploaded_at=now,
    )
    details = {"kind": kind.value, "document_id": document.id, "replaced": bool(replaced)}
    await note(merchant, "document_add", actor, details=details)
    return document


async def add_document(
    merchant: Merchant,
    kind: DocumentKind,
    stored_file: StoredFile,
    expires_on: date | None,
    actor: Principal,
) -> MerchantDocument:
    """Make ``stored_file`` the merchant's current document of ``kind``."""
    _ensure_changeable(merchant)
    async with in_transaction(TENANT_ALIAS):
        raise_if_any(_problems(kind, expires_on, await current_standard()))
        return await _add(merchant, kind, stored_file, expires_on, actor)


async def upload_document(
    merchant: Merchant,
    kind: DocumentKind,
    upload: UploadedFile,
    expires_on: date | None,
    actor: Principal,
) -> MerchantDocument:
    """Check the document against the standards, then store ``upload`` (of a type and
    size they accept, checked by content) and add it, in one transaction: refused, it
    leaves nothing behind."""
    _ensure_changeable(merchant)
    async with in_transaction(TENANT_ALIAS):
        standard = await current_standard()
        raise_if_any(_problems(kind, expires_on, standard))
        stored = await store_upload(
            upload,
            purpose=PURPOSE,
            accepted_types=standard.accepted_types,
            max_bytes=standard.max_file_bytes,
        )
        return await _add(merchant, kind, stored, expires_on, actor)


async def remove_document(
    merchant: Merchant, document: MerchantDocument, actor: Principal
) -> Merchant:
    """Take a current document away; its file is never served again."""
    _ensure_changeable(merchant)
    if document.merchant_id != merchant.id or document.replaced_at is not None:
        raise fail("id", Code.NOT_FOUND, "no such document")
    async with in_transaction(TENANT_ALIAS):
        await change(merchant)
        await MerchantDocument.filter(id=document.id).update(replaced_at=datetime.now(UTC))
        await discard_file(await StoredFile.get(id=document.file_id))
        details = {"kind": document.kind.value, "document_id": document.id}
        await note(merchant, "document_remove", actor, details=details)
    return merchant


async def upload_logo(merchant: Merchant, upload: UploadedFile, actor: Principal) -> Merchant:
    """Store ``upload`` as the merchant's logo, a public file (its link does not expire:
    it is shown on the public profile); the earlier logo is no longer served."""
    _ensure_changeable(merchant)
    async with in_transaction(TENANT_ALIAS):
        stored = await store_upload(
            upload,
            purpose=LOGO_PURPOSE,
            accepted_types=LOGO_TYPES,
            max_bytes=MAX_LOGO_BYTES,
            public=True,
        )
        previous = merchant.logo_file_id
        await change(merchant, logo_file_id=stored.id)
        if previous is not None:
            await discard_file(await StoredFile.get(id=previous))
        await note(merchant, "logo_upload", actor, details={"replaced": previous is not None})
    return merchant
