"""Reading merchants: the tenant's list, one's own, a merchant's history, and the owner's
profile edits once admitted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schema.core.nodes import to_global_id
from schema.core.principal import ANONYMOUS, Principal
from schema.identity.models import User
from schema.merchants.models import Merchant
from schema.merchants.status import MerchantStatus
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.graphql import codes, gql
from tests.schema.merchants.conftest import make_draft, make_user
from tests.schema.principals import user_with

S = MerchantStatus
MERCHANTS = """query M($filter: MerchantFilter, $first: Int) {
  merchants(filter: $filter, first: $first) { nodes { businessName status } }
}"""
MINE = "{ myMerchants { nodes { businessName status } } }"
HISTORY = """query H($id: ID!) {
  node(id: $id) { ... on Merchant {
    history(first: 10) { nodes { action fromStatus toStatus actor reason details } }
  } }
}"""
PROFILE = """mutation P($id: ID!, $input: MerchantProfileInput!) {
  merchantProfileUpdate(id: $id, input: $input) {
    merchant { description website contactPhone } errors { field code }
  }
}"""


async def _merchant(name: str, status: MerchantStatus, **fields: Any) -> Merchant:
    owner = await make_user(f"{name.lower()}@example.com")
    merchant = await make_draft(owner, name)
    submitted = {} if status is MerchantStatus.DRAFT else {"submitted_at": datetime.now(UTC)}
    await Merchant.filter(id=merchant.id).update(status=status, **(submitted | fields))
    return await Merchant.get(id=merchant.id)


@pytest.fixture
async def merchants(acme: TenantRecord) -> dict[str, Merchant]:
    async with tenant_scope(acme):
        return {
            "draft": await _merchant("Drafty", S.DRAFT, category="food"),
            "bakery": await _merchant("Bakery", S.ACTIVE, category="food", legal_name="Bake AG"),
            "smithy": await _merchant("Smithy", S.IN_REVIEW, category="crafts",
                                      registration_number="HRB777"),
            "potter": await _merchant("Potter", S.SUBMITTED, category="crafts"),
        }  # fmt: skip


def names(payload: dict[str, Any], field: str) -> list[str]:
    return [n["businessName"] for n in payload["data"][field]["nodes"]]


async def test_the_tenants_list_leaves_out_drafts_and_filters(
    acme: TenantRecord, merchants: dict[str, Merchant]
) -> None:
    reader = user_with("merchants:read", user_id=99)
    cases: list[tuple[dict[str, Any] | None, list[str]]] = [
        (None, ["Potter", "Smithy", "Bakery"]),
        ({"status": "ACTIVE"}, ["Bakery"]),
        ({"category": "crafts"}, ["Potter", "Smithy"]),
        ({"search": "bake ag"}, ["Bakery"]),
        ({"search": "hrb 777"}, ["Smithy"]),
        ({"status": "DRAFT"}, []),
    ]
    for where, expected in cases:
        assert names(await gql(acme, reader, MERCHANTS, filter=where), "merchants") == expected
    too_long = await gql(acme, reader, MERCHANTS, filter={"search": "x" * 101})
    assert codes(too_long) == ["BAD_REQUEST"]
    assert codes(await gql(acme, user_with(user_id=99), MERCHANTS)) == ["FORBIDDEN"]


async def test_a_grant_limited_to_one_merchant_lists_only_that_one(
    acme: TenantRecord, merchants: dict[str, Merchant]
) -> None:
    staff = user_with("merchants:read", user_id=99, merchant_id=merchants["smithy"].id)
    assert names(await gql(acme, staff, MERCHANTS), "merchants") == ["Smithy"]


async def test_my_merchants_are_those_i_applied_for_or_work_for(
    acme: TenantRecord, merchants: dict[str, Merchant]
) -> None:
    draft_owner = user_with(user_id=merchants["draft"].owner_user_id)
    assert names(await gql(acme, draft_owner, MINE), "myMerchants") == ["Drafty"]
    async with tenant_scope(acme):
        staff = await make_user("staff@example.com")
        await User.filter(id=staff.id).update(merchant_id=merchants["bakery"].id)
        sneaky = await make_user("sneaky@example.com")
        await User.filter(id=sneaky.id).update(merchant_id=merchants["draft"].id)
    assert names(await gql(acme, user_with(user_id=staff.id), MINE), "myMerchants") == ["Bakery"]
    # Working for a merchant never shows its draft: that is the applicant's alone.
    assert names(await gql(acme, user_with(user_id=sneaky.id), MINE), "myMerchants") == []
    assert codes(await gql(acme, ANONYMOUS, MINE)) == ["UNAUTHENTICATED"]


async def test_history_newest_first_and_only_the_applicants_until_submitted(
    acme: TenantRecord, applicant: User, applicant_principal: Principal
) -> None:
    create = """mutation { merchantApplicationCreate(input: {businessName: "Ada's"}) {
      merchant { id } } }"""
    created = await gql(acme, applicant_principal, create)
    merchant_id = created["data"]["merchantApplicationCreate"]["merchant"]["id"]
    await gql(
        acme,
        applicant_principal,
        """mutation W($id: ID!) {
          merchantApplicationWithdraw(id: $id, reason: "later") { errors { code } }
        }""",
        id=merchant_id,
    )
    payload = await gql(acme, applicant_principal, HISTORY, id=merchant_id)
    actor = f"user:{applicant.id}"
    assert payload["data"]["node"]["history"]["nodes"] == [
        {"action": "withdraw", "fromStatus": "DRAFT", "toStatus": "WITHDRAWN", "actor": actor,
         "reason": "later", "details": {}},
        {"action": "application_create", "fromStatus": None, "toStatus": None, "actor": actor,
         "reason": None, "details": {"fields": ["business_name"]}},
    ]  # fmt: skip
    # Withdrawn before it was ever submitted: it never reached the tenant's staff.
    reader = user_with("merchants:read", user_id=99)
    assert (await gql(acme, reader, HISTORY, id=merchant_id))["data"]["node"] is None
    stranger = await gql(acme, user_with(user_id=98), HISTORY, id=merchant_id)
    assert stranger["data"]["node"] is None


async def test_the_owner_and_its_managers_edit_an_admitted_merchants_profile(
    acme: TenantRecord, merchants: dict[str, Merchant]
) -> None:
    bakery = merchants["bakery"]
    bakery_id = to_global_id("Merchant", bakery.id)
    owner = user_with(user_id=bakery.owner_user_id)
    given = {"description": "Sourdough.", "website": "https://bake.example", "contactPhone": ""}
    payload = await gql(acme, owner, PROFILE, id=bakery_id, input=given)
    assert payload["data"]["merchantProfileUpdate"] == {
        "merchant": {
            "description": "Sourdough.",
            "website": "https://bake.example",
            "contactPhone": None,
        },
        "errors": [],
    }
    manager = user_with("merchants:manage", user_id=50, merchant_id=bakery.id)
    again = await gql(acme, manager, PROFILE, id=bakery_id, input={"description": "Rye."})
    assert again["data"]["merchantProfileUpdate"]["merchant"]["description"] == "Rye."
    other = user_with("merchants:manage", user_id=51, merchant_id=merchants["smithy"].id)
    refused = await gql(acme, other, PROFILE, id=bakery_id, input={"description": "Mine."})
    assert refused["data"]["merchantProfileUpdate"]["errors"] == [
        {"field": ["id"], "code": "NOT_FOUND"}
    ]
    bad_input = {"website": "ftp://x", "contactEmail": "@"}
    bad = await gql(acme, owner, PROFILE, id=bakery_id, input=bad_input)
    assert bad["data"]["merchantProfileUpdate"]["errors"] == [
        {"field": ["input", "contactEmail"], "code": "INVALID"},
        {"field": ["input", "website"], "code": "INVALID"},
    ]
    same = await gql(acme, owner, PROFILE, id=bakery_id, input={"description": "Rye."})
    assert same["data"]["merchantProfileUpdate"]["errors"] == [
        {"field": ["input"], "code": "NOTHING_TO_CHANGE"}
    ]


async def test_an_application_under_review_has_no_profile_to_edit(
    acme: TenantRecord, merchants: dict[str, Merchant]
) -> None:
    smithy = merchants["smithy"]
    owner = user_with(user_id=smithy.owner_user_id)
    payload = await gql(
        acme, owner, PROFILE, id=to_global_id("Merchant", smithy.id), input={"description": "x"}
    )
    assert payload["data"]["merchantProfileUpdate"]["errors"] == [
        {"field": None, "code": "INVALID_TRANSITION"}
    ]
    async with tenant_scope(acme):
        assert (await Merchant.get(id=smithy.id)).description is None
