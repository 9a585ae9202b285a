"""The human review through GraphQL: the queue, claims (two reviewers at once: one
wins), decisions that need the claim and are never one's own, every illegal decision
refused without a change, the applicant's mails, the onboarding fee, and who sees the
automated review's findings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schema.access.models import RoleAssignment
from schema.core.nodes import to_global_id
from schema.core.principal import Principal
from schema.identity.models import User, UserStatus, UserType
from schema.merchants.models import (
    Merchant,
    MerchantEvent,
    OnboardingStandard,
    RiskLevel,
    ScreeningFinding,
)
from schema.merchants.service.screening import screen
from schema.merchants.status import MerchantStatus
from tenants.outbox import JobOutbox
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.graphql import codes, gql
from tests.schema.identity.conftest import mails
from tests.schema.merchants.applications import in_review, submitted
from tests.schema.principals import user_with

S = MerchantStatus
REVIEW = "merchants:review"
RITA = user_with(REVIEW, user_id=901)  # user ids of reviewers that do not exist: no FK
ROB = user_with(REVIEW, user_id=902)
FINANCE = user_with("finance:manage", user_id=903)


def gid(merchant: Merchant) -> str:
    return to_global_id("Merchant", merchant.id)


CLAIM = """mutation($id: ID!) { merchantApplicationClaim(id: $id) {
  merchant { status claimedByUserId claimExpiresAt } errors { field code } } }"""
RELEASE = """mutation($id: ID!) { merchantApplicationRelease(id: $id) {
  merchant { claimedByUserId } errors { field code } } }"""
APPROVE = """mutation($id: ID!, $note: String) { merchantApprove(id: $id, note: $note) {
  merchant { status claimedByUserId decidedAt } errors { field code } } }"""
REJECT = """mutation($id: ID!, $reasons: [String!]!) { merchantReject(id: $id, reasons: $reasons) {
  merchant { status claimedByUserId } errors { field code } } }"""
REQUEST = """mutation($id: ID!, $items: [RequestedItemInput!]!) {
  merchantRequestInformation(id: $id, items: $items) {
    merchant { status requestedItems { item message } } errors { field code } } }"""
FEE = """mutation($id: ID!, $reference: String!) {
  merchantOnboardingFeeRecord(id: $id, reference: $reference) {
    merchant { status feePaidAt } errors { field code } } }"""
QUEUE = """query($filter: MerchantReviewQueueFilter, $first: Int, $after: String) {
  merchantReviewQueue(filter: $filter, first: $first, after: $after) {
    nodes { businessName } pageInfo { hasNextPage endCursor } } }"""
FINDINGS = """query($id: ID!) { node(id: $id) { ... on Merchant {
  findings { check passed severity evidence } } } }"""


async def run(
    tenant: TenantRecord, principal: Principal, query: str, name: str, **variables: Any
) -> dict[str, Any]:
    payload = await gql(tenant, principal, query, **variables)
    assert "errors" not in payload, payload
    result: dict[str, Any] = payload["data"][name]
    return result


def error_codes(result: dict[str, Any]) -> list[str]:
    return [e["code"] for e in result["errors"]]


async def claim(tenant: TenantRecord, who: Principal, merchant: Merchant) -> dict[str, Any]:
    return await run(tenant, who, CLAIM, "merchantApplicationClaim", id=gid(merchant))


@pytest.fixture
async def application(acme: TenantRecord, applicant: User) -> Merchant:
    async with tenant_scope(acme):
        return await in_review(applicant)


async def state(tenant: TenantRecord, merchant: Merchant) -> tuple[Any, ...]:
    """Everything a decision could change."""
    async with tenant_scope(tenant):
        row = await Merchant.get(id=merchant.id)
        events = await MerchantEvent.filter(merchant_id=merchant.id).count()
        jobs = await JobOutbox.all().count()
        roles = await RoleAssignment.filter(merchant_id=merchant.id).count()
    return (row.status, row.version, row.claimed_by_user_id, row.decided_at, events, jobs, roles)


# --- the queue ----------------------------------------------------------------------------


async def test_the_queue_lists_oldest_submission_first_across_pages(
    acme: TenantRecord, applicant: User
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with tenant_scope(acme):
        # m0-m4 at one instant, created last to first (ties are broken by id), m5-m7 a
        # minute apart, created before them.
        for n in (7, 6, 5, 4, 3, 2, 1, 0):
            at = start + timedelta(minutes=max(0, n - 4))
            await in_review(applicant, business_name=f"m{n}", submitted_at=at)
        await submitted(applicant, business_name="not yet screened")
    seen: list[str] = []
    after = None
    while True:
        page = await run(acme, RITA, QUEUE, "merchantReviewQueue", first=3, after=after)
        seen += [n["businessName"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["m4", "m3", "m2", "m1", "m0", "m5", "m6", "m7"]


async def test_the_queue_filters(acme: TenantRecord, applicant: User) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with tenant_scope(acme):
        low = await in_review(applicant, business_name="low", submitted_at=start)
        await in_review(
            applicant, RiskLevel.HIGH, business_name="high", submitted_at=start + timedelta(days=1)
        )
        await submitted(applicant, business_name="submitted", submitted_at=start)

    async def names(**where: Any) -> list[str]:
        page = await run(acme, RITA, QUEUE, "merchantReviewQueue", filter=where)
        return [n["businessName"] for n in page["nodes"]]

    assert await names() == ["low", "high"]
    assert await names(riskLevel="HIGH") == ["high"]
    assert await names(submittedBefore=(start + timedelta(hours=1)).isoformat()) == ["low"]
    assert await names(submittedAfter=(start + timedelta(days=1)).isoformat()) == ["high"]
    assert await names(status="SUBMITTED") == ["submitted"]
    await claim(acme, RITA, low)
    assert await names(claimed=True) == ["low"]
    assert await names(claimed=False) == ["high"]
    async with tenant_scope(acme):  # the claim ran out
        await Merchant.filter(id=low.id).update(
            claim_expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
    assert await names(claimed=False) == ["low", "high"]
    refused = await gql(acme, RITA, QUEUE, filter={"status": "ACTIVE"})
    assert codes(refused) == ["BAD_REQUEST"]


async def test_a_reviewer_limited_to_some_merchants_sees_and_decides_only_those(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        mine = await in_review(applicant, business_name="mine")
        other = await in_review(applicant, business_name="other")
    limited = user_with(REVIEW, user_id=904, merchant_id=mine.id)
    page = await run(acme, limited, QUEUE, "merchantReviewQueue")
    assert [n["businessName"] for n in page["nodes"]] == ["mine"]
    assert error_codes(await claim(acme, limited, other)) == ["NOT_FOUND"]
    assert error_codes(await claim(acme, limited, mine)) == []


# --- claims -------------------------------------------------------------------------------


async def test_two_reviewers_claiming_at_once_one_wins(
    acme: TenantRecord, application: Merchant
) -> None:
    results = await asyncio.gather(claim(acme, RITA, application), claim(acme, ROB, application))
    assert sorted(error_codes(r) for r in results) == [[], ["CLAIMED_BY_OTHER"]]
    winner = RITA if not results[0]["errors"] else ROB
    async with tenant_scope(acme):
        row = await Merchant.get(id=application.id)
        events = await MerchantEvent.filter(merchant_id=application.id).values_list(
            "action", "actor"
        )
    assert row.claimed_by_user_id == winner.user_id
    assert events == [("application_claim", winner.subject)]


async def test_a_claim_lasts_30_minutes_and_is_renewed_by_its_holder(
    acme: TenantRecord, application: Merchant
) -> None:
    before = datetime.now(UTC)
    first = await claim(acme, RITA, application)
    expires = datetime.fromisoformat(first["merchant"]["claimExpiresAt"])
    assert timedelta(minutes=30) <= expires - before < timedelta(minutes=31)
    assert first["merchant"]["claimedByUserId"] is not None
    assert error_codes(await claim(acme, RITA, application)) == []
    assert error_codes(await claim(acme, ROB, application)) == ["CLAIMED_BY_OTHER"]
    async with tenant_scope(acme):
        await Merchant.filter(id=application.id).update(
            claim_expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
    assert error_codes(await claim(acme, ROB, application)) == []  # expired: anyone's


async def test_claim_refusals(acme: TenantRecord, applicant: User, application: Merchant) -> None:
    async with tenant_scope(acme):
        waiting = await submitted(applicant, business_name="waiting")
    assert error_codes(await claim(acme, RITA, waiting)) == ["INVALID_TRANSITION"]
    own = user_with(REVIEW, user_id=applicant.id)
    assert error_codes(await claim(acme, own, application)) == ["SELF_NOT_ALLOWED"]
    client = user_with(REVIEW, user_id=0)
    client = Principal(client.kind, grants=client.grants, user_id=None, scopes=client.scopes)
    assert error_codes(await claim(acme, client, application)) == ["INVALID"]


async def test_release_gives_it_back(acme: TenantRecord, application: Merchant) -> None:
    await claim(acme, RITA, application)
    refused = await run(acme, ROB, RELEASE, "merchantApplicationRelease", id=gid(application))
    assert error_codes(refused) == ["NOT_CLAIMED"]
    released = await run(acme, RITA, RELEASE, "merchantApplicationRelease", id=gid(application))
    assert released == {"merchant": {"claimedByUserId": None}, "errors": []}
    assert error_codes(await claim(acme, ROB, application)) == []


# --- decisions ----------------------------------------------------------------------------


async def test_approval_without_a_fee_goes_to_the_agreement_and_makes_the_owner(
    acme: TenantRecord, applicant: User, application: Merchant
) -> None:
    await claim(acme, RITA, application)
    result = await run(acme, RITA, APPROVE, "merchantApprove", id=gid(application), note="ok")
    assert error_codes(result) == []
    assert result["merchant"]["status"] == "AGREEMENT_PENDING"
    assert result["merchant"]["claimedByUserId"] is None
    assert result["merchant"]["decidedAt"] is not None
    async with tenant_scope(acme):
        owner = await User.get(id=applicant.id)
        [role] = await RoleAssignment.filter(user_id=applicant.id).prefetch_related("role")
        event = await MerchantEvent.filter(merchant_id=application.id, action="approve").get()
        sent = await mails()
    assert owner.merchant_id == application.id
    assert (role.role.key, role.merchant_id, role.granted_by) == (
        "merchant_owner", application.id, "system:merchants.approval",
    )  # fmt: skip
    assert (event.actor, event.reason, event.to_status) == ("user:901", "ok", "agreement_pending")
    assert event.details == {"fee_due": False, "owner_user_id": applicant.id}
    assert sent == [
        {
            "to": "ada@example.com",
            "template": "merchant_approved",
            "params": {
                "tenant": "Acme Ltd",
                "full_name": "Ada Applicant",
                "business_name": "Ada's Bakery",
                "next_step": "To start trading, accept the cooperation agreement.",
            },
        }
    ]


async def fee_standard(tenant: TenantRecord) -> None:
    """Standards version 2, charging a fee; the application is submitted under it."""
    async with tenant_scope(tenant):
        v1 = await OnboardingStandard.get(version=1)
        await OnboardingStandard.create(
            **{k: v for k, v in v1.__dict__.items() if not k.startswith("_") and k != "id"}
            | {"version": 2, "fee_amount": 5000, "fee_currency": "EUR"}
        )
        await Merchant.all().update(standard_version=2)


async def test_approval_with_a_fee_waits_for_finance(
    acme: TenantRecord, applicant: User, application: Merchant
) -> None:
    await fee_standard(acme)
    await claim(acme, RITA, application)
    approved = await run(acme, RITA, APPROVE, "merchantApprove", id=gid(application))
    assert approved["merchant"]["status"] == "APPROVED"
    not_finance = await gql(acme, RITA, FEE, id=gid(application), reference="x")
    assert codes(not_finance) == ["FORBIDDEN"]
    blank = await run(
        acme, FINANCE, FEE, "merchantOnboardingFeeRecord", id=gid(application), reference=" "
    )
    assert blank["errors"] == [{"field": ["reference"], "code": "REQUIRED"}]
    paid = await run(
        acme, FINANCE, FEE, "merchantOnboardingFeeRecord", id=gid(application), reference="TX-1"
    )
    assert paid["merchant"]["status"] == "AGREEMENT_PENDING"
    async with tenant_scope(acme):
        row = await Merchant.get(id=application.id)
        sent = [m["template"] for m in await mails()]
    assert (row.fee_reference, row.fee_paid_at is not None) == ("TX-1", True)
    assert sent == ["merchant_approved", "merchant_fee_recorded"]
    again = await run(
        acme, FINANCE, FEE, "merchantOnboardingFeeRecord", id=gid(application), reference="TX-2"
    )
    assert error_codes(again) == ["INVALID_TRANSITION"]


async def test_rejection_with_reasons(acme: TenantRecord, application: Merchant) -> None:
    await claim(acme, RITA, application)
    invalid = await run(
        acme, RITA, REJECT, "merchantReject", id=gid(application), reasons=["ok", " "]
    )
    assert invalid["errors"] == [{"field": ["reasons", "1"], "code": "REQUIRED"}]
    assert (await run(acme, RITA, REJECT, "merchantReject", id=gid(application), reasons=[]))[
        "errors"
    ] == [{"field": ["reasons"], "code": "REQUIRED"}]
    reasons = ["the licence is for another business", "unsupported category"]
    result = await run(acme, RITA, REJECT, "merchantReject", id=gid(application), reasons=reasons)
    assert result == {"merchant": {"status": "REJECTED", "claimedByUserId": None}, "errors": []}
    async with tenant_scope(acme):
        event = await MerchantEvent.filter(merchant_id=application.id, action="reject").get()
        [sent] = await mails()
    assert event.details == {"reasons": reasons}
    assert (sent["template"], sent["params"]["reasons"]) == (
        "merchant_rejected",
        "- the licence is for another business\n- unsupported category",
    )


async def test_requesting_information(acme: TenantRecord, application: Merchant) -> None:
    await claim(acme, RITA, application)
    bad = await run(
        acme, RITA, REQUEST, "merchantRequestInformation", id=gid(application),
        items=[{"item": "password", "message": ""}],
    )  # fmt: skip
    assert bad["errors"] == [
        {"field": ["items", "0", "item"], "code": "INVALID"},
        {"field": ["items", "0", "message"], "code": "REQUIRED"},
    ]
    items = [
        {"item": "document:sector_permit", "message": "add the food hygiene permit"},
        {"item": "website", "message": "the website does not answer"},
    ]
    result = await run(
        acme, RITA, REQUEST, "merchantRequestInformation", id=gid(application), items=items
    )
    assert result == {
        "merchant": {"status": "NEEDS_INFORMATION", "requestedItems": items},
        "errors": [],
    }
    async with tenant_scope(acme):
        [sent] = await mails()
        row = await Merchant.get(id=application.id)
    assert row.claimed_by_user_id is None
    assert (sent["template"], sent["params"]["items"]) == (
        "merchant_information_requested",
        "- add the food hygiene permit (document:sector_permit)\n"
        "- the website does not answer (website)",
    )


async def test_decisions_need_the_claim(acme: TenantRecord, application: Merchant) -> None:
    before = await state(acme, application)
    await claim(acme, ROB, application)
    claimed = await state(acme, application)
    for query, name, args in DECISIONS:
        result = await run(acme, RITA, query, name, id=gid(application), **args)
        assert error_codes(result) == ["NOT_CLAIMED"], name
    assert await state(acme, application) == claimed
    assert claimed[0] == before[0]


async def test_nobody_decides_their_own_application(
    acme: TenantRecord, applicant: User, application: Merchant
) -> None:
    own = user_with(REVIEW, user_id=applicant.id)
    async with tenant_scope(acme):  # a claim it could not have taken through the API
        await Merchant.filter(id=application.id).update(
            claimed_by_user_id=applicant.id,
            claim_expires_at=datetime.now(UTC) + timedelta(minutes=5),
        )
    before = await state(acme, application)
    for query, name, args in DECISIONS:
        result = await run(acme, own, query, name, id=gid(application), **args)
        assert error_codes(result) == ["SELF_NOT_ALLOWED"], name
    assert await state(acme, application) == before


@pytest.mark.parametrize(
    "ineligible",
    [{"status": UserStatus.DEACTIVATED}, {"user_type": UserType.TENANT_STAFF}],
    ids=["deactivated", "tenant staff"],
)
async def test_an_ineligible_owner_is_not_approved(
    acme: TenantRecord, applicant: User, application: Merchant, ineligible: dict[str, Any]
) -> None:
    async with tenant_scope(acme):
        await User.filter(id=applicant.id).update(**ineligible)
    await claim(acme, RITA, application)
    before = await state(acme, application)
    result = await run(acme, RITA, APPROVE, "merchantApprove", id=gid(application))
    assert result["errors"] == [{"field": ["id"], "code": "OWNER_INELIGIBLE"}]
    assert await state(acme, application) == before


DECISIONS: list[tuple[str, str, dict[str, Any]]] = [
    (APPROVE, "merchantApprove", {}),
    (REJECT, "merchantReject", {"reasons": ["no"]}),
    (REQUEST, "merchantRequestInformation", {"items": [{"item": "city", "message": "which?"}]}),
]
NOT_IN_REVIEW = [s for s in S if s is not S.IN_REVIEW and s is not S.DRAFT]


@pytest.mark.parametrize("status", NOT_IN_REVIEW, ids=[s.value for s in NOT_IN_REVIEW])
async def test_every_illegal_decision_is_refused_and_changes_nothing(
    acme: TenantRecord, applicant: User, status: S
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant, status=status)
        # Even holding a claim (left over from when it was in review).
        await Merchant.filter(id=merchant.id).update(
            claimed_by_user_id=RITA.user_id,
            claim_expires_at=datetime.now(UTC) + timedelta(minutes=5),
        )
    before = await state(acme, merchant)
    for query, name, args in DECISIONS:
        result = await run(acme, RITA, query, name, id=gid(merchant), **args)
        assert error_codes(result) == ["INVALID_TRANSITION"], name
    if status is not S.APPROVED:
        fee = await run(acme, FINANCE, FEE, "merchantOnboardingFeeRecord", id=gid(merchant),
                        reference="TX")  # fmt: skip
        assert error_codes(fee) == ["INVALID_TRANSITION"]
    assert await state(acme, merchant) == before


async def test_a_draft_is_invisible_to_reviewers(acme: TenantRecord, applicant: User) -> None:
    async with tenant_scope(acme):
        draft = await submitted(applicant, status=S.DRAFT)
    result = await run(acme, RITA, APPROVE, "merchantApprove", id=gid(draft))
    assert error_codes(result) == ["NOT_FOUND"]


# --- findings -----------------------------------------------------------------------------


async def test_reviewers_see_every_finding_the_applicant_only_what_they_can_fix(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant)
        await screen(merchant.id, 1)
        checks = await ScreeningFinding.filter(merchant_id=merchant.id).count()

    async def findings(who: Principal) -> Any:
        payload = await gql(acme, who, FINDINGS, id=gid(merchant))
        return payload["data"]["node"]["findings"]

    everything = await findings(RITA)
    assert len(everything) == checks == 8
    watch = next(f for f in everything if f["check"] == "WATCH_LIST")
    assert (watch["passed"], watch["severity"], watch["evidence"]["hits"]) == (True, "HIGH", [])
    owner = user_with(user_id=applicant.id)
    assert [(f["check"], f["severity"]) for f in await findings(owner)] == [
        ("REQUIRED_DOCUMENTS", "RETURN"),
        ("DOCUMENTS_UNEXPIRED", "RETURN"),
        ("REGISTRATION_NUMBER_FORMAT", "RETURN"),
        ("BANK_DETAILS", "RETURN"),
    ]
    reader = user_with("merchants:read", user_id=905)
    assert await findings(reader) is None


async def test_the_queue_shows_each_applications_findings(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        for n in range(3):
            merchant = await submitted(applicant, business_name=f"m{n}")
            await screen(merchant.id, 1)
    query = """{ merchantReviewQueue { nodes { businessName findings { check } } } }"""
    nodes = (await run(acme, RITA, query, "merchantReviewQueue"))["nodes"]
    assert [(n["businessName"], len(n["findings"])) for n in nodes] == [
        ("m0", 8),
        ("m1", 8),
        ("m2", 8),
    ]
