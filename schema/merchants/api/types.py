"""The GraphQL types of a merchant that every part of the merchants API shares."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from schema.core.nodes import Node, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import principal_of
from schema.files.links import download_url
from schema.files.models import StoredFile
from schema.merchants.api import related
from schema.merchants.api.common import may_download, tenant_side
from schema.merchants.api.findings import ScreeningFindingType, findings_of
from schema.merchants.models import (
    DocumentKind,
    Merchant,
    MerchantDocument,
    MerchantEvent,
    RiskLevel,
)
from schema.merchants.status import (
    Action,
    Capability,
    MerchantStatus,
    allowed_actions,
    capabilities,
)

strawberry.enum(MerchantStatus, name="MerchantStatus", description="Where a merchant stands.")
strawberry.enum(
    Action, name="MerchantAction", description="A step of a merchant's life (its history)."
)
strawberry.enum(
    Capability,
    name="MerchantCapability",
    description="What a merchant may do; derived from its status.",
)
strawberry.enum(RiskLevel, name="MerchantRiskLevel", description="The automated review's view.")
strawberry.enum(
    DocumentKind, name="MerchantDocumentKind", description="What a supporting document is."
)


@strawberry.type(description="A postal address.")
class MerchantAddress:
    line1: str | None
    line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2.")


@strawberry.type(description="What an applicant is asked to add or correct.")
class RequestedItem:
    item: str = strawberry.field(
        description="A field of the application (``registration_number``) or a document "
        "(``document:bank_account_proof``)."
    )
    message: str


@strawberry.type(
    name="MerchantEvent",
    description="One step of a merchant's history: a change of status or another decision.",
)
class MerchantEventType:
    action: str = strawberry.field(
        description="A MerchantAction value (submit, approve...) or another decision "
        "(application_update, document_add, claim...)."
    )
    from_status: MerchantStatus | None = strawberry.field(description="Null: no change.")
    to_status: MerchantStatus | None
    actor: str | None = strawberry.field(
        description="Who: user:12, client:abc, job:merchants.screen; on the merchant's side "
        "null unless it was you."
    )
    reason: str | None
    details: JSON
    created_at: datetime

    @classmethod
    def from_model(
        cls, row: MerchantEvent, *, merchant_side_viewer: str | None = None
    ) -> MerchantEventType:
        """``merchant_side_viewer``: the subject of a viewer on the merchant's side, who
        sees only their own name and not the tenant's assessment."""
        details, actor = row.details, row.actor
        if merchant_side_viewer is not None:
            details = {k: v for k, v in details.items() if k not in TENANT_ONLY_DETAILS}
            actor = actor if actor == merchant_side_viewer else None
        return cls(
            action=row.action,
            from_status=MerchantStatus(row.from_status) if row.from_status else None,
            to_status=MerchantStatus(row.to_status) if row.to_status else None,
            actor=actor,
            reason=row.reason,
            details=details,
            created_at=row.created_at,
        )


# Details of history events that are the tenant's assessment, not the merchant's business.
TENANT_ONLY_DETAILS = frozenset({"risk_level", "owner_user_id", "until"})


@strawberry.type(name="MerchantDocument", description="A merchant's supporting document.")
class MerchantDocumentNode(Node):
    kind: DocumentKind
    filename: str
    media_type: str = strawberry.field(description="Detected from the content.")
    size: int = strawberry.field(description="In bytes.")
    expires_on: date | None
    uploaded_at: datetime
    download_url: str | None = strawberry.field(
        description="A link to the file, valid for 5 minutes; null for whoever may not "
        "see the merchant."
    )

    @classmethod
    def from_model(cls, row: MerchantDocument, *, downloadable: bool) -> MerchantDocumentNode:
        """``row`` with its file loaded when ``downloadable``."""
        return cls(
            id=to_global_id("MerchantDocument", row.id),
            kind=row.kind,
            filename=row.filename,
            media_type=row.media_type,
            size=row.size,
            expires_on=row.expires_on,
            uploaded_at=row.uploaded_at,
            download_url=download_url(row.file) if downloadable else None,
        )


def current_documents() -> DataLoader[int, list[MerchantDocument]]:
    """The current documents of merchants by id, with their files: one query for a whole
    list of merchants (made per request: ``RequestContext.loader``)."""

    async def load(merchant_ids: list[int]) -> list[list[MerchantDocument]]:
        rows = (
            await MerchantDocument.filter(merchant_id__in=merchant_ids, replaced_at=None)
            .select_related("file")
            .order_by("id")
        )
        found: dict[int, list[MerchantDocument]] = defaultdict(list)
        for row in rows:
            found[row.merchant_id].append(row)
        return [found[merchant_id] for merchant_id in merchant_ids]

    return DataLoader(load_fn=load)


def live_files() -> DataLoader[int, StoredFile | None]:
    """Stored files by id, unless discarded: one query for a whole list."""

    async def load(file_ids: list[int]) -> list[StoredFile | None]:
        found = await StoredFile.filter(id__in=file_ids, deleted_at=None)
        rows = {row.id: row for row in found}
        return [rows.get(file_id) for file_id in file_ids]

    return DataLoader(load_fn=load)


async def logo_url_of(info: strawberry.Info, logo_file_id: int | None) -> str | None:
    """A merchant's logo link (public, never expiring); None without a live public logo."""
    if logo_file_id is None:
        return None
    logo = await info.context.loader(live_files).load(logo_file_id)
    return download_url(logo, ttl=None) if logo is not None and logo.public else None


@strawberry.type(
    name="Merchant",
    description="A merchant of the tenant, from its application on. Its owner, its staff "
    "and the tenant's staff whose grants cover it see it.",
)
class MerchantNode(Node):
    status: MerchantStatus
    business_name: str
    legal_name: str | None
    registration_number: str | None
    category: str | None
    description: str | None
    website: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None = strawberry.field(description="E.164.")
    address: MerchantAddress
    bank_account_last4: str | None = strawberry.field(
        description="The last four characters of the account number; the rest is sealed."
    )
    owner_user_id: strawberry.ID = strawberry.field(description="The applicant's User ID.")
    standard_version: int | None = strawberry.field(
        description="The onboarding standards version of the latest submission."
    )
    submission_count: int
    requested_items: list[RequestedItem]
    fee_paid_at: datetime | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    activated_at: datetime | None
    status_changed_at: datetime | None
    # The row it was made from, for the resolvers of its relations (never returned).
    model: strawberry.Private[Merchant]

    @strawberry.field(description="What the merchant may do now, from its status.")
    def capabilities(self) -> list[Capability]:
        return sorted(capabilities(self.status))

    @strawberry.field(description="The actions its status allows next.")
    def allowed_actions(self) -> list[Action]:
        return allowed_actions(self.status)

    @strawberry.field(
        description="The automated review's risk level; null on the merchant's side "
        "(its owner and staff)."
    )
    def risk_level(self, info: strawberry.Info) -> RiskLevel | None:
        return self.model.risk_level if self._tenant_side(info) else None

    @strawberry.field(
        description="The reviewer holding the application (a User ID) while the claim "
        "lasts; null on the merchant's side."
    )
    def claimed_by_user_id(self, info: strawberry.Info) -> strawberry.ID | None:
        if self._claim_until(info) is None or self.model.claimed_by_user_id is None:
            return None
        return to_global_id("User", self.model.claimed_by_user_id)

    @strawberry.field(description="Until when the claim lasts; null on the merchant's side.")
    def claim_expires_at(self, info: strawberry.Info) -> datetime | None:
        return self._claim_until(info)

    def _claim_until(self, info: strawberry.Info) -> datetime | None:
        until = self.model.claim_expires_at
        if until is None or until <= datetime.now(UTC) or not self._tenant_side(info):
            return None
        return until

    @strawberry.field(
        description="Who did what to it, when and why; newest first. On the merchant's "
        "side, the tenant's staff are not named (actor null) and the tenant's assessment "
        "is left out of the details."
    )
    async def history(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MerchantEventType]:
        principal = principal_of(info.context)
        viewer = None if self._tenant_side(info) else principal.subject
        return await paginate(
            MerchantEvent.filter(merchant_id=self.model.id),
            PageRequest(first=first, after=after, last=last, before=before),
            lambda row: MerchantEventType.from_model(row, merchant_side_viewer=viewer),
            newest_first=True,
        )

    def _tenant_side(self, info: strawberry.Info) -> bool:
        return tenant_side(principal_of(info.context), self.model)

    @strawberry.field(description="Its logo: a public link that does not expire; null without one.")
    async def logo_url(self, info: strawberry.Info) -> str | None:
        return await logo_url_of(info, self.model.logo_file_id)

    @strawberry.field(description="Its current supporting documents, one per kind at most.")
    async def documents(self, info: strawberry.Info) -> list[MerchantDocumentNode]:
        rows = await info.context.loader(current_documents).load(self.model.id)
        downloadable = may_download(principal_of(info.context), self.model)
        return [MerchantDocumentNode.from_model(row, downloadable=downloadable) for row in rows]

    @strawberry.field(
        description="The automated review's findings on the latest submission: every "
        "one for reviewers; for the applicant, those they can act on (severity RETURN); "
        "null for anyone else."
    )
    async def findings(self, info: strawberry.Info) -> list[ScreeningFindingType] | None:
        return await findings_of(info, self)

    @strawberry.field(description="The agreement versions accepted for it, newest first.")
    async def agreement_acceptances(self, info: strawberry.Info) -> list[related.AcceptanceType]:
        return await related.acceptances_of(info, self.model)

    @strawberry.field(
        description="Who works for it (null unless you manage it: its owner, or "
        "merchants:manage covering it)."
    )
    async def staff(self, info: strawberry.Info) -> list[related.StaffMemberType] | None:
        return await related.staff_of(info, self.model)

    @strawberry.field(
        description="Its pending staff invitations, newest first (null unless you manage it)."
    )
    async def invitations(self, info: strawberry.Info) -> list[related.InvitationNode] | None:
        return await related.invitations_of(info, self.model)

    @strawberry.field(description="Its sanctions with their appeals, newest first.")
    async def sanctions(self, info: strawberry.Info) -> list[related.SanctionNode]:
        return await related.sanctions_of(info, self.model)

    @classmethod
    def from_model(cls, row: Merchant) -> MerchantNode:
        return cls(
            id=to_global_id("Merchant", row.id),
            status=row.status,
            business_name=row.business_name,
            legal_name=row.legal_name,
            registration_number=row.registration_number,
            category=row.category,
            description=row.description,
            website=row.website,
            contact_name=row.contact_name,
            contact_email=row.contact_email,
            contact_phone=row.contact_phone,
            address=MerchantAddress(
                line1=row.address_line1,
                line2=row.address_line2,
                city=row.city,
                region=row.region,
                postal_code=row.postal_code,
                country=row.country,
            ),
            bank_account_last4=row.bank_account_last4,
            owner_user_id=to_global_id("User", row.owner_user_id),
            standard_version=row.standard_version,
            submission_count=row.submission_count,
            requested_items=[RequestedItem(**item) for item in row.requested_items],
            fee_paid_at=row.fee_paid_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            submitted_at=row.submitted_at,
            decided_at=row.decided_at,
            activated_at=row.activated_at,
            status_changed_at=row.status_changed_at,
            model=row,
        )


async def merchant_result(merchant: Merchant) -> dict[str, Any]:
    """The ``merchant`` field of a mutation's payload (``MutationTypes.run``'s result)."""
    return {"merchant": MerchantNode.from_model(merchant)}
