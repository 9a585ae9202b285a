"""GraphQL face of the human review: the queue, claims, decisions, the onboarding fee.

Every field needs ``merchants:review`` (the fee: ``finance:manage``), and each object
must be covered by that grant (a grant limited to some merchants covers only those).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry

from schema.core.errors import ErrorCode, PublicError
from schema.core.mutations import mutation_types
from schema.core.pagination import Connection, PageRequest, by_time, paginate
from schema.core.permissions import limit_to_merchants, principal_of, requires
from schema.merchants.api.common import FINANCE_MANAGE, MERCHANTS_REVIEW, merchant_for
from schema.merchants.api.types import MerchantNode
from schema.merchants.errors import Code
from schema.merchants.models import Merchant, RiskLevel
from schema.merchants.service import reviews
from schema.merchants.status import REVIEWABLE, MerchantStatus

_DECISION = (
    Code.NOT_FOUND,
    Code.INVALID_TRANSITION,
    Code.CONFLICT,
    Code.NOT_CLAIMED,
    Code.SELF_NOT_ALLOWED,
)
_TEXT = (Code.REQUIRED, Code.TOO_LONG, Code.INVALID)  # INVALID: control characters

CLAIM = mutation_types(
    "merchantApplicationClaim",
    (
        Code.NOT_FOUND,
        Code.INVALID,
        Code.INVALID_TRANSITION,
        Code.CLAIMED_BY_OTHER,
        Code.SELF_NOT_ALLOWED,
    ),
    merchant=MerchantNode,
)
RELEASE = mutation_types(
    "merchantApplicationRelease",
    (Code.NOT_FOUND, Code.INVALID, Code.NOT_CLAIMED),
    merchant=MerchantNode,
)
APPROVE = mutation_types(
    "merchantApprove",
    (*_DECISION, Code.TOO_LONG, Code.INVALID, Code.OWNER_INELIGIBLE),
    merchant=MerchantNode,
)
REJECT = mutation_types(
    "merchantReject", (*_DECISION, *_TEXT, Code.OUT_OF_RANGE), merchant=MerchantNode
)
REQUEST_INFORMATION = mutation_types(
    "merchantRequestInformation", (*_DECISION, *_TEXT, Code.OUT_OF_RANGE), merchant=MerchantNode
)
FEE_RECORD = mutation_types(
    "merchantOnboardingFeeRecord",
    (Code.NOT_FOUND, Code.INVALID_TRANSITION, Code.CONFLICT, Code.SELF_NOT_ALLOWED, *_TEXT),
    merchant=MerchantNode,
)

# Module-level names, so the resolvers' annotations resolve.
MerchantApplicationClaimPayload = CLAIM.payload
MerchantApplicationReleasePayload = RELEASE.payload
MerchantApprovePayload = APPROVE.payload
MerchantRejectPayload = REJECT.payload
MerchantRequestInformationPayload = REQUEST_INFORMATION.payload
MerchantOnboardingFeeRecordPayload = FEE_RECORD.payload


@strawberry.input(description="Which applications the review queue lists.")
class MerchantReviewQueueFilter:
    status: MerchantStatus = strawberry.field(
        default=MerchantStatus.IN_REVIEW,
        description="SUBMITTED, IN_REVIEW (the default) or NEEDS_INFORMATION.",
    )
    risk_level: RiskLevel | None = None
    submitted_before: datetime | None = strawberry.field(default=None, description="Exclusive.")
    submitted_after: datetime | None = strawberry.field(default=None, description="Inclusive.")
    claimed: bool | None = strawberry.field(
        default=None, description="Held by a reviewer now (true) or free to claim (false)."
    )

    def to_filter(self) -> reviews.QueueFilter:
        if self.status not in REVIEWABLE:
            raise PublicError(
                "the review queue lists SUBMITTED, IN_REVIEW and NEEDS_INFORMATION applications",
                ErrorCode.BAD_REQUEST,
            )
        return reviews.QueueFilter(
            status=self.status,
            risk_level=self.risk_level,
            submitted_before=self.submitted_before,
            submitted_after=self.submitted_after,
            claimed=self.claimed,
        )


@strawberry.input(description="Something the applicant must add or correct.")
class RequestedItemInput:
    item: str = strawberry.field(
        description="A field of the application (``registration_number``, ``bank_details``) "
        "or a document (``document:bank_account_proof``)."
    )
    message: str


async def _merchant_result(merchant: Merchant) -> dict[str, Any]:
    return {"merchant": MerchantNode.from_model(merchant)}


async def _act(
    info: strawberry.Info,
    global_id: str,
    permission: str,
    decide: Callable[..., Awaitable[Merchant]],
    *args: Any,
) -> Merchant:
    """``decide(principal, merchant, *args)`` on the merchant ``global_id`` names, when
    the principal's ``permission`` covers it."""
    principal = principal_of(info.context)
    return await decide(principal, await merchant_for(principal, global_id, permission), *args)


@strawberry.type
class ReviewQuery:
    @strawberry.field(
        permission_classes=[requires(MERCHANTS_REVIEW)],
        description="Applications waiting for a decision, oldest submission first.",
    )
    async def merchant_review_queue(
        self,
        info: strawberry.Info,
        filter: MerchantReviewQueueFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MerchantNode]:
        where = (filter or MerchantReviewQueueFilter()).to_filter()
        query = limit_to_merchants(
            reviews.queue(where), principal_of(info.context), MERCHANTS_REVIEW, field="id"
        )
        page = PageRequest(first=first, after=after, last=last, before=before)
        return await paginate(
            query, page, MerchantNode.from_model, sort_key=by_time("submitted_at")
        )


@strawberry.type
class ReviewMutation:
    @strawberry.mutation(
        permission_classes=[requires(MERCHANTS_REVIEW)],
        description=f"Hold an application in review for "
        f"{reviews.CLAIM_DURATION.seconds // 60} minutes (claiming again renews it); "
        "deciding needs the claim. CLAIMED_BY_OTHER while another reviewer holds it.",
    )
    async def merchant_application_claim(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> MerchantApplicationClaimPayload:
        return await CLAIM.run(_act(info, id, MERCHANTS_REVIEW, reviews.claim), _merchant_result)

    @strawberry.mutation(
        permission_classes=[requires(MERCHANTS_REVIEW)],
        description="Give a claimed application back to the queue.",
    )
    async def merchant_application_release(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> MerchantApplicationReleasePayload:
        call = _act(info, id, MERCHANTS_REVIEW, reviews.release)
        return await RELEASE.run(call, _merchant_result)

    @strawberry.mutation(
        permission_classes=[requires(MERCHANTS_REVIEW)],
        description="Approve a claimed application: to APPROVED when the standards it was "
        "submitted under charge an onboarding fee, else AGREEMENT_PENDING. The applicant "
        "becomes the merchant's owner and is mailed.",
    )
    async def merchant_approve(
        self, info: strawberry.Info, id: strawberry.ID, note: str | None = None
    ) -> MerchantApprovePayload:
        call = _act(info, id, MERCHANTS_REVIEW, reviews.approve, note)
        return await APPROVE.run(call, _merchant_result)

    @strawberry.mutation(
        permission_classes=[requires(MERCHANTS_REVIEW)],
        description="Reject a claimed application with the reasons, mailed to the applicant "
        "(who may reopen it).",
    )
    async def merchant_reject(
        self, info: strawberry.Info, id: strawberry.ID, reasons: list[str]
    ) -> MerchantRejectPayload:
        call = _act(info, id, MERCHANTS_REVIEW, reviews.reject, reasons)
        return await REJECT.run(call, _merchant_result)

    @strawberry.mutation(
        permission_classes=[requires(MERCHANTS_REVIEW)],
        description="Send a claimed application back to the applicant with what to add or "
        "correct (mailed).",
    )
    async def merchant_request_information(
        self, info: strawberry.Info, id: strawberry.ID, items: list[RequestedItemInput]
    ) -> MerchantRequestInformationPayload:
        wanted = [reviews.RequestedItem(item=i.item, message=i.message) for i in items]
        call = _act(info, id, MERCHANTS_REVIEW, reviews.request_information, wanted)
        return await REQUEST_INFORMATION.run(call, _merchant_result)

    @strawberry.mutation(
        permission_classes=[requires(FINANCE_MANAGE)],
        description="Record an approved merchant's onboarding fee as paid (the payment's "
        "reference, or why it was waived): on to AGREEMENT_PENDING.",
    )
    async def merchant_onboarding_fee_record(
        self, info: strawberry.Info, id: strawberry.ID, reference: str
    ) -> MerchantOnboardingFeeRecordPayload:
        call = _act(info, id, FINANCE_MANAGE, reviews.record_fee, reference)
        return await FEE_RECORD.run(call, _merchant_result)


QUERIES: list[type] = [ReviewQuery]
MUTATIONS: list[type] = [ReviewMutation]
TYPES: list[type] = []
