"""The GraphQL types of a merchant that every part of the merchants API shares."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.core.nodes import Node, to_global_id
from schema.merchants.api.findings import ScreeningFindingType, findings_of
from schema.merchants.models import DocumentKind, Merchant, RiskLevel
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
    risk_level: RiskLevel | None
    requested_items: list[RequestedItem]
    claimed_by_user_id: strawberry.ID | None = strawberry.field(
        description="The reviewer holding the application (a User ID), while the claim lasts."
    )
    claim_expires_at: datetime | None
    fee_paid_at: datetime | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    activated_at: datetime | None
    status_changed_at: datetime | None

    @strawberry.field(description="What the merchant may do now, from its status.")
    def capabilities(self) -> list[Capability]:
        return sorted(capabilities(self.status))

    @strawberry.field(description="The actions its status allows next.")
    def allowed_actions(self) -> list[Action]:
        return allowed_actions(self.status)

    @strawberry.field(
        description="The automated review's findings on the latest submission: every "
        "one for reviewers; for the applicant, those they can act on (severity RETURN); "
        "null for anyone else."
    )
    async def findings(self, info: strawberry.Info) -> list[ScreeningFindingType] | None:
        return await findings_of(info, self)

    @classmethod
    def from_model(cls, row: Merchant) -> MerchantNode:
        claimed = row.claim_expires_at is not None and row.claim_expires_at > datetime.now(
            row.claim_expires_at.tzinfo
        )
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
            risk_level=row.risk_level,
            requested_items=[RequestedItem(**item) for item in row.requested_items],
            claimed_by_user_id=(
                to_global_id("User", row.claimed_by_user_id)
                if claimed and row.claimed_by_user_id is not None
                else None
            ),
            claim_expires_at=row.claim_expires_at if claimed else None,
            fee_paid_at=row.fee_paid_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            submitted_at=row.submitted_at,
            decided_at=row.decided_at,
            activated_at=row.activated_at,
            status_changed_at=row.status_changed_at,
        )
