"""Identity verification: a user submits documents, a reviewer verifies or rejects them.

Transitions of the user's ``identity_status``: unverified or rejected -> submitted (the
user submits), submitted -> verified or rejected (a reviewer decides, a rejection with a
reason). Each submission is a row holding its documents as submitted and the decision:
who decided, when and why; nobody decides their own case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from schema.audit.service import record
from schema.core.errors import FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.identity.models import (
    DocumentKind,
    IdentityDocument,
    IdentityStatus,
    IdentityVerification,
    User,
)
from schema.identity.validation import Code, clean_reason, clean_text
from tenants.backends import TENANT_ALIAS

MAX_DOCUMENTS = 10
MAX_REFERENCE_LENGTH = 100
MAX_FILE_REFERENCE_LENGTH = 500
_CAN_SUBMIT = (IdentityStatus.UNVERIFIED, IdentityStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class DocumentSubmission:
    kind: DocumentKind
    reference: str  # the document's number
    file_reference: str  # where the uploaded file is (a storage key or URL)


def _checked_documents(documents: Sequence[DocumentSubmission]) -> list[DocumentSubmission]:
    errors: list[FieldError] = []
    if not 1 <= len(documents) <= MAX_DOCUMENTS:
        raise fail("documents", Code.OUT_OF_RANGE, f"submit 1 to {MAX_DOCUMENTS} documents")
    cleaned = []
    for index, document in enumerate(documents):
        at = ("documents", str(index))
        reference = clean_text(
            document.reference, errors, (*at, "reference"), max_length=MAX_REFERENCE_LENGTH
        )
        file_reference = clean_text(
            document.file_reference,
            errors,
            (*at, "file_reference"),
            max_length=MAX_FILE_REFERENCE_LENGTH,
        )
        cleaned.append(DocumentSubmission(document.kind, reference or "", file_reference or ""))
    raise_if_any(errors)
    return cleaned


async def submit_identity(
    user_id: int, documents: Sequence[DocumentSubmission]
) -> IdentityVerification:
    """The user's documents, stored as submitted, for a reviewer to decide on."""
    cleaned = _checked_documents(documents)
    async with in_transaction(TENANT_ALIAS):
        user = await User.filter(id=user_id).select_for_update().get_or_none()
        if user is None:
            raise fail((), Code.NOT_FOUND, "no such user")
        if user.identity_status not in _CAN_SUBMIT:
            raise fail(
                (), Code.INVALID_TRANSITION, f"the identity is {user.identity_status.value} already"
            )
        verification = await IdentityVerification.create(
            user_id=user.id, status=IdentityStatus.SUBMITTED, submitted_at=datetime.now(UTC)
        )
        await IdentityDocument.bulk_create(
            [
                IdentityDocument(
                    verification_id=verification.id,
                    kind=d.kind,
                    reference=d.reference,
                    file_reference=d.file_reference,
                )
                for d in cleaned
            ]
        )
        user.identity_status = IdentityStatus.SUBMITTED
        await user.save(update_fields=["identity_status"])
        await record(
            "identityVerificationSubmit",
            targets=[f"User:{user.id}", f"IdentityVerification:{verification.id}"],
            summary={"documents": [d.kind.value for d in cleaned]},
        )
    return verification


async def decide_identity(
    verification_id: int, *, verified: bool, reason: str | None, actor: Principal
) -> IdentityVerification:
    """A reviewer's decision on a submission; a rejection needs a reason."""
    errors: list[FieldError] = []
    cleaned = clean_reason(reason, errors, required=not verified)
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        verification = (
            await IdentityVerification.filter(id=verification_id).select_for_update().get_or_none()
        )
        if verification is None:
            raise fail("id", Code.NOT_FOUND, "no such identity verification")
        if actor.user_id is not None and verification.user_id == actor.user_id:
            raise fail("id", Code.SELF_NOT_ALLOWED, "nobody decides their own verification")
        if verification.status is not IdentityStatus.SUBMITTED:
            raise fail(
                "id", Code.INVALID_TRANSITION, f"this submission is {verification.status.value}"
            )
        status = IdentityStatus.VERIFIED if verified else IdentityStatus.REJECTED
        verification.status = status
        verification.decided_at = datetime.now(UTC)
        verification.decided_by = actor.subject
        verification.reason = cleaned
        await verification.save(update_fields=["status", "decided_at", "decided_by", "reason"])
        user_id = verification.user_id
        await User.filter(id=user_id).update(identity_status=status)
        await record(
            "identityVerificationDecide",
            targets=[f"User:{user_id}", f"IdentityVerification:{verification.id}"],
            summary={"status": status.value, "reason": cleaned},
        )
    return verification
