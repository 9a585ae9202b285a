"""The tenant's side and the merchant's side see one merchant differently: the risk
level, the reviewer's claim and who on the tenant's staff did what are the tenant's."""

from __future__ import annotations

from typing import Any

from schema.core.nodes import to_global_id
from schema.identity.models import User
from schema.merchants.service.reviews import claim
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.graphql import gql
from tests.schema.merchants.applications import in_review
from tests.schema.merchants.conftest import make_user
from tests.schema.principals import user_with

VIEW = """query ($id: ID!) {
  node(id: $id) {
    ... on Merchant {
      riskLevel claimedByUserId
      history(first: 5) { nodes { action actor details } }
    }
  }
}"""


async def view(acme: TenantRecord, principal: Any, merchant_id: str) -> dict[str, Any]:
    payload = await gql(acme, principal, VIEW, id=merchant_id)
    assert "errors" not in payload, payload
    return payload["data"]["node"]


async def test_only_the_tenant_side_sees_its_assessment(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        merchant = await in_review(applicant)
        reviewer_user = await make_user("rita@acme.example", "Rita Reviewer")
        reviewer = user_with("merchants:review", user_id=reviewer_user.id)
        await claim(reviewer, merchant)
    merchant_id = to_global_id("Merchant", merchant.id)
    claim_event = {"action": "application_claim", "actor": f"user:{reviewer_user.id}"}

    seen_by_reviewer = await view(acme, reviewer, merchant_id)
    assert seen_by_reviewer["riskLevel"] == "LOW"
    assert seen_by_reviewer["claimedByUserId"] == to_global_id("User", reviewer_user.id)
    [event] = seen_by_reviewer["history"]["nodes"]
    assert {k: event[k] for k in claim_event} == claim_event
    assert set(event["details"]) == {"until"}

    seen_by_owner = await view(acme, user_with(user_id=applicant.id), merchant_id)
    assert seen_by_owner == {
        "riskLevel": None,
        "claimedByUserId": None,
        "history": {"nodes": [{"action": "application_claim", "actor": None, "details": {}}]},
    }

    staff = user_with("merchants:read", user_id=applicant.id + 100, merchant_id=merchant.id)
    assert (await view(acme, staff, merchant_id))["riskLevel"] is None


DOCUMENTS = """query ($id: ID!) {
  node(id: $id) { ... on Merchant { documents { kind downloadUrl } } }
}"""


async def test_document_links_go_to_the_owner_and_the_tenant_not_to_all_staff(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        merchant = await in_review(applicant)
    merchant_id = to_global_id("Merchant", merchant.id)

    async def links(principal: Any) -> list[bool]:
        payload = await gql(acme, principal, DOCUMENTS, id=merchant_id)
        return [d["downloadUrl"] is not None for d in payload["data"]["node"]["documents"]]

    staff = user_with("merchants:read", user_id=500, merchant_id=merchant.id)
    manager = user_with("merchants:read", "merchants:manage", user_id=501, merchant_id=merchant.id)
    assert await links(staff) == [False, False, False]
    assert await links(manager) == [True, True, True]
    assert await links(user_with(user_id=applicant.id)) == [True, True, True]
    assert await links(user_with("merchants:review", user_id=502)) == [True, True, True]
