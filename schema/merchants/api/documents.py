"""Supporting documents over GraphQL: uploaded (multipart ``Upload``) by the applicant
while applying, and by the merchant's owner or managers once admitted (renewals)."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from schema.core.errors import fail
from schema.core.mutations import mutation_types
from schema.core.nodes import register_node, row_id, row_id_of, to_global_id
from schema.core.permissions import authenticated, ensure_authenticated, principal_of
from schema.core.principal import Principal
from schema.files.api import Upload
from schema.files.checks import UPLOAD_CODES
from schema.merchants.api.common import is_owner, managed_merchant, may_download, may_see
from schema.merchants.api.types import MerchantDocumentNode, MerchantNode, merchant_result
from schema.merchants.errors import Code
from schema.merchants.models import DocumentKind, Merchant, MerchantDocument
from schema.merchants.service import documents as service
from schema.merchants.status import ADMITTED

_WHOSE = (Code.NOT_FOUND, Code.NOT_OWNER, Code.INVALID_TRANSITION, Code.CONFLICT)
UPLOAD = mutation_types(
    "merchantDocumentUpload",
    (
        *_WHOSE,
        Code.DOCUMENT_KIND_NOT_ACCEPTED,
        Code.REQUIRED,
        Code.DOCUMENT_EXPIRED,
        *UPLOAD_CODES,
    ),
    document=MerchantDocumentNode,
    merchant=MerchantNode,
)
REMOVE = mutation_types("merchantDocumentRemove", _WHOSE, merchant=MerchantNode)
LOGO = mutation_types("merchantLogoUpload", (*_WHOSE, *UPLOAD_CODES), merchant=MerchantNode)
MerchantDocumentUploadPayload = UPLOAD.payload
MerchantDocumentRemovePayload = REMOVE.payload
MerchantLogoUploadPayload = LOGO.payload


async def _documents_of(principal: Principal, global_id: str, field: str) -> Merchant:
    """The merchant whose documents the principal may change: the applicant's own while
    applying (NOT_OWNER for others who see it), its owner or managers once admitted."""
    merchant = await managed_merchant(principal, global_id, field=field)
    if merchant.status not in ADMITTED and not is_owner(principal, merchant):
        raise fail(field, Code.NOT_OWNER, "only the applicant changes an application's documents")
    return merchant


async def _fetch_document(key: str, context: Any) -> MerchantDocumentNode | None:
    principal = ensure_authenticated(context)
    document_id = row_id(key)
    document = (
        await MerchantDocument.get_or_none(id=document_id, replaced_at=None).select_related(
            "merchant", "file"
        )
        if document_id is not None
        else None
    )
    if document is None or not may_see(principal, document.merchant):
        return None
    downloadable = may_download(principal, document.merchant)
    return MerchantDocumentNode.from_model(document, downloadable=downloadable)


register_node("MerchantDocument", _fetch_document)


@strawberry.type
class DocumentsMutation:
    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Upload a supporting document of a kind the onboarding standards ask "
        "for (replacing the current one of that kind): PDF or image, checked by content, "
        "within the standards' size. While applying, the applicant's; once admitted, the "
        "owner's or a manager's.",
    )
    async def merchant_document_upload(
        self,
        info: strawberry.Info,
        merchant_id: strawberry.ID,
        kind: DocumentKind,
        file: Upload,
        expires_on: date | None = None,
    ) -> MerchantDocumentUploadPayload:
        async def upload() -> MerchantDocument:
            principal = principal_of(info.context)
            merchant = await _documents_of(principal, merchant_id, "merchant_id")
            return await service.upload_document(
                merchant,
                kind,
                file,  # type: ignore[arg-type]
                expires_on,
                principal,
            )

        async def result(document: MerchantDocument) -> dict[str, Any]:
            await document.fetch_related("merchant", "file")
            return {
                "document": MerchantDocumentNode.from_model(document, downloadable=True),
                "merchant": MerchantNode.from_model(document.merchant),
            }

        return await UPLOAD.run(upload(), result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Remove a current document; its file is no longer served.",
    )
    async def merchant_document_remove(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> MerchantDocumentRemovePayload:
        async def remove() -> Merchant:
            principal = principal_of(info.context)
            document_id = row_id_of(id, "MerchantDocument")
            document = (
                await MerchantDocument.get_or_none(id=document_id, replaced_at=None)
                if document_id is not None
                else None
            )
            if document is None:
                raise fail("id", Code.NOT_FOUND, "no such document")
            owner_id = to_global_id("Merchant", document.merchant_id)
            merchant = await _documents_of(principal, owner_id, "id")
            return await service.remove_document(merchant, document, principal)

        return await REMOVE.run(remove(), merchant_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Upload the merchant's logo (PNG, JPEG or WebP, at most 2 MiB), shown "
        "on its public profile; replaces the earlier one. Same rules as documents.",
    )
    async def merchant_logo_upload(
        self, info: strawberry.Info, merchant_id: strawberry.ID, file: Upload
    ) -> MerchantLogoUploadPayload:
        async def upload() -> Merchant:
            principal = principal_of(info.context)
            merchant = await _documents_of(principal, merchant_id, "merchant_id")
            return await service.upload_logo(merchant, file, principal)  # type: ignore[arg-type]

        return await LOGO.run(upload(), merchant_result)


QUERIES: list[type] = []
MUTATIONS: list[type] = [DocumentsMutation]
TYPES: list[type] = [MerchantDocumentNode]
