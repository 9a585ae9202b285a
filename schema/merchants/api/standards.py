"""Onboarding standards over GraphQL: anyone may read what an application needs; the
tenant's administrators (``merchants:configure``) change them, each change a new version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from schema.core.money import Money, MoneyInput
from schema.core.mutations import mutation_types
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import principal_of, public, requires_tenant_wide
from schema.merchants.api.common import MERCHANTS_CONFIGURE, MERCHANTS_REVIEW
from schema.merchants.errors import Code
from schema.merchants.models import DocumentKind, MerchantField, OnboardingStandard
from schema.merchants.service.standards import (
    KEEP,
    DocumentRequirement,
    Fee,
    StandardsChanges,
    current_agreement_version,
    current_standard,
    requirements,
    update_standards,
)

strawberry.enum(
    MerchantField,
    name="MerchantField",
    description="A field of a merchant application the standards may require.",
)


@strawberry.type(name="MerchantDocumentRequirement")
class DocumentRequirementType:
    kind: DocumentKind
    required: bool = strawberry.field(description="Needed to submit an application.")
    expires: bool = strawberry.field(
        description="The upload must give the document's expiry date, which must not have "
        "passed when the application is submitted."
    )


@strawberry.type(
    name="MerchantOnboardingStandardsVersion",
    description="One version of the tenant's onboarding standards.",
)
class StandardsVersionType:
    version: int
    required_fields: list[MerchantField]
    documents: list[DocumentRequirementType] = strawberry.field(
        description="The document kinds an application may carry, and which it must."
    )
    accepted_types: list[str] = strawberry.field(
        description="Media types uploads may have (checked by content)."
    )
    max_file_bytes: int
    categories: list[str] = strawberry.field(description="Empty: any category.")
    restricted: strawberry.Private[list[str]]
    registration_number_pattern: str = strawberry.field(
        description="A regular expression registration numbers must match entirely "
        "(upper case, without spaces)."
    )
    fee: Money | None = strawberry.field(description="The onboarding fee; null: none.")
    reason: str | None = strawberry.field(description="Why this version was written.")
    created_at: datetime

    @strawberry.field(
        description="Categories whose applications get a closer review: the tenant's "
        "assessment, shown to holders of merchants:configure or merchants:review for the "
        "whole tenant; null to others."
    )
    def restricted_categories(self, info: strawberry.Info) -> list[str] | None:
        grants = principal_of(info.context).grants
        tenant_side = any(
            grants.allows(p) and grants.merchants(p) is None
            for p in (MERCHANTS_CONFIGURE, MERCHANTS_REVIEW)
        )
        return self.restricted if tenant_side else None

    @classmethod
    def values_of(cls, row: OnboardingStandard) -> dict[str, Any]:
        fee = (
            Money.from_minor(row.fee_amount, row.fee_currency)
            if row.fee_amount is not None and row.fee_currency is not None
            else None
        )
        return {
            "version": row.version,
            "required_fields": [MerchantField(name) for name in row.required_fields],
            "documents": [
                DocumentRequirementType(kind=r.kind, required=r.required, expires=r.expires)
                for r in requirements(row)
            ],
            "accepted_types": row.accepted_types,
            "max_file_bytes": row.max_file_bytes,
            "categories": row.categories,
            "restricted": row.restricted_categories,
            "registration_number_pattern": row.registration_number_pattern,
            "fee": fee,
            "reason": row.reason,
            "created_at": row.created_at,
        }

    @classmethod
    def from_model(cls, row: OnboardingStandard) -> StandardsVersionType:
        return cls(**cls.values_of(row))


@strawberry.type(
    name="MerchantOnboardingStandards",
    description="What a merchant application needs now: the current standards.",
)
class StandardsType(StandardsVersionType):
    agreement_version: str | None = strawberry.field(
        description="The cooperation agreement an approved merchant accepts (its version "
        "label); null until the tenant publishes one."
    )

    @classmethod
    async def current(cls) -> StandardsType:
        row = await current_standard()
        return cls(**cls.values_of(row), agreement_version=await current_agreement_version())


@strawberry.input(name="MerchantDocumentRequirementInput")
class DocumentRequirementInput:
    kind: DocumentKind
    required: bool = True
    expires: bool = False


@strawberry.input(
    name="MerchantOnboardingStandardsInput",
    description="Only the settings given change; the rest is copied from the current version.",
)
class StandardsInput:
    required_fields: list[MerchantField] | None = None
    documents: list[DocumentRequirementInput] | None = strawberry.field(
        default=None, description="The whole list: kinds left out are no longer asked for."
    )
    accepted_types: list[str] | None = strawberry.field(
        default=None, description="Among application/pdf, image/png, image/jpeg, image/webp."
    )
    max_file_bytes: int | None = strawberry.field(
        default=None, description="Between 1 KiB and 50 MiB."
    )
    categories: list[str] | None = None
    restricted_categories: list[str] | None = None
    registration_number_pattern: str | None = None
    fee: MoneyInput | None = strawberry.field(
        default=strawberry.UNSET, description="null removes the fee; left out, it stays."
    )

    def changes(self) -> StandardsChanges:
        documents = (
            [DocumentRequirement(d.kind, d.required, d.expires) for d in self.documents]
            if self.documents is not None
            else None
        )
        if self.fee is strawberry.UNSET:
            fee: Fee | Any | None = KEEP
        else:
            fee = Fee(self.fee.amount, self.fee.currency) if self.fee is not None else None
        unchanged = {k: v for k, v in vars(self).items() if k not in ("documents", "fee")}
        return StandardsChanges(**unchanged, documents=documents, fee=fee)


STANDARDS_UPDATE = mutation_types(
    "merchantOnboardingStandardsUpdate",
    (
        Code.REQUIRED,
        Code.INVALID,
        Code.TOO_LONG,
        Code.OUT_OF_RANGE,
        Code.NOTHING_TO_CHANGE,
        Code.CONFLICT,
    ),
    standards=StandardsType,
)
MerchantOnboardingStandardsUpdatePayload = STANDARDS_UPDATE.payload


@strawberry.type
class StandardsQuery:
    @strawberry.field(
        permission_classes=[public],
        description="What a merchant application needs: the current onboarding standards.",
    )
    async def merchant_onboarding_standards(self) -> StandardsType:
        return await StandardsType.current()

    @strawberry.field(
        permission_classes=[requires_tenant_wide(MERCHANTS_CONFIGURE)],
        description="Every version of the onboarding standards, newest first.",
    )
    async def merchant_onboarding_standards_history(
        self,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[StandardsVersionType]:
        return await paginate(
            OnboardingStandard.all(),
            PageRequest(first=first, after=after, last=last, before=before),
            StandardsVersionType.from_model,
            newest_first=True,
        )


@strawberry.type
class StandardsMutation:
    @strawberry.mutation(
        permission_classes=[requires_tenant_wide(MERCHANTS_CONFIGURE)],
        description="Change the onboarding standards: writes the next version. Applications "
        "are checked against the version in force when they are submitted.",
    )
    async def merchant_onboarding_standards_update(
        self, info: strawberry.Info, input: StandardsInput, reason: str
    ) -> MerchantOnboardingStandardsUpdatePayload:
        call = update_standards(input.changes(), reason, principal_of(info.context))

        async def result(_: OnboardingStandard) -> dict[str, Any]:
            return {"standards": await StandardsType.current()}

        return await STANDARDS_UPDATE.run(call, result)


QUERIES: list[type] = [StandardsQuery]
MUTATIONS: list[type] = [StandardsMutation]
TYPES: list[type] = []
