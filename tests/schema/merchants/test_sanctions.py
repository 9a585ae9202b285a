"""Sanctions and appeals: warning, suspension and removal with reasons and evidence,
lifting them, the merchant's one appeal per sanction, decided by someone else."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import pytest

from schema.audit.models import AuditRecord
from schema.core.errors import DomainError
from schema.core.nodes import to_global_id
from schema.core.principal import Principal
from schema.merchants.models import (
    Appeal,
    AppealDecision,
    Merchant,
    MerchantEvent,
    Sanction,
    SanctionKind,
    SanctionStatus,
)
from schema.merchants.service import sanctions
from schema.merchants.status import MerchantStatus
from tenants.outbox import JobOutbox
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import principal_of
from tests.schema.graphql import gql
from tests.schema.identity.conftest import mails
from tests.schema.merchants.people import Shop, make_officer, make_shop, make_staff, reload
from tests.schema.principals import user_with

S = MerchantStatus

MUTATIONS = {
    "warn": "merchantWarn",
    "suspend": "merchantSuspend",
    "remove": "merchantRemove",
}
LIFT = """
mutation L($id: ID!, $reason: String!) {
  merchantSanctionLift(sanctionId: $id, reason: $reason) {
    errors { field code } merchant { status } sanction { status endReason }
  }
}"""
OFFBOARD = """
mutation O($id: ID!, $reason: String!) {
  merchantOffboardComplete(id: $id, reason: $reason) { errors { field code } merchant { status } }
}"""
APPEAL = """
mutation A($id: ID!, $statement: String!) {
  merchantSanctionAppeal(sanctionId: $id, statement: $statement) {
    errors { field code } appeal { id statement decision sanction { kind status } }
  }
}"""
DECIDE = """
mutation D($id: ID!, $decision: MerchantAppealDecision!, $reason: String!) {
  merchantAppealDecide(appealId: $id, decision: $decision, reason: $reason) {
    errors { field code } merchant { status } appeal { decision decisionReason }
  }
}"""
SANCTIONS = """
query Q($id: ID!) {
  node(id: $id) {
    ... on Merchant {
      sanctions { kind status reason evidence endReason appeal { statement decision } }
    }
  }
}"""


def issue_query(action: str) -> str:
    return (
        "mutation I($id: ID!, $reason: String!, $evidence: [String!]) {"
        f" {MUTATIONS[action]}(id: $id, reason: $reason, evidence: $evidence)"
        " { errors { field code } merchant { status } sanction { id } } }"
    )


@dataclass
class World:
    shop: Shop
    owner: Principal
    sam: Principal  # operations director: sanctions and reviews
    rita: Principal  # operations manager: reviews only


@pytest.fixture
async def world(acme: TenantRecord) -> World:
    async with tenant_scope(acme):
        shop = await make_shop("Ada's Bakery", "ada@example.com")
        sam = await principal_of(await make_officer("sam@acme.example"))
        rita = await principal_of(await make_officer("rita@acme.example", "operations_manager"))
        return World(shop, await shop.principal(), sam, rita)


async def act(
    tenant: TenantRecord, principal: Principal, action: str, merchant: str, **args: Any
) -> dict[str, Any]:
    """Issue a sanction through GraphQL; the payload."""
    variables = {"id": merchant, "reason": "late deliveries", **args}
    payload = await gql(tenant, principal, issue_query(action), **variables)
    return payload["data"][MUTATIONS[action]]


async def run(
    tenant: TenantRecord, principal: Principal, query: str, **variables: Any
) -> dict[str, Any]:
    """The one root field of a mutation's payload."""
    payload = await gql(tenant, principal, query, **variables)
    [value] = payload["data"].values()
    return value


async def state(tenant: TenantRecord, shop: Shop) -> tuple[object, ...]:
    """Everything a sanction mutation may change."""
    async with tenant_scope(tenant):
        merchant = await reload(shop)
        return (
            merchant.status,
            merchant.version,
            await Sanction.all().order_by("id").values_list("status", flat=True),
            await Appeal.all().order_by("id").values_list("decision", flat=True),
            await MerchantEvent.all().count(),
            await JobOutbox.all().count(),
        )


async def test_a_warning_with_evidence_moves_the_merchant_and_mails_its_owner(
    acme: TenantRecord, world: World
) -> None:
    done = await act(acme, world.sam, "warn", world.shop.gid,
                     evidence=["order 17 late", " photo of the parcel "])  # fmt: skip
    assert done["errors"] == []
    assert done["merchant"] == {"status": "WARNED"}
    async with tenant_scope(acme):
        sanction = await Sanction.get()
        event = await MerchantEvent.get()
        [mail] = await mails()
        audited = await AuditRecord.filter(operation="merchantWarn").values_list(
            "actor_subject", flat=True
        )
    assert done["sanction"]["id"] == to_global_id("MerchantSanction", sanction.id)
    assert (sanction.kind, sanction.status, sanction.status_before, sanction.reason) == (
        SanctionKind.WARNING,
        SanctionStatus.IN_FORCE,
        "active",
        "late deliveries",
    )
    assert sanction.evidence == [{"text": "order 17 late"}, {"text": "photo of the parcel"}]
    assert (sanction.issued_by, sanction.issued_by_user_id) == (
        world.sam.subject,
        world.sam.user_id,
    )
    assert (event.action, event.from_status, event.to_status, event.reason) == (
        "warn",
        "active",
        "warned",
        "late deliveries",
    )
    assert mail == {
        "to": "ada@example.com",
        "template": "merchant_sanctioned",
        "params": {
            "tenant": "Acme Ltd",
            "full_name": "Ada",
            "business_name": "Ada's Bakery",
            "sanction": "warning",
            "reason": "late deliveries",
        },
    }
    assert audited == [world.sam.subject]


async def test_lifting_goes_back_to_what_the_sanctions_in_force_leave(
    acme: TenantRecord, world: World
) -> None:
    warning = (await act(acme, world.sam, "warn", world.shop.gid))["sanction"]["id"]
    suspension = (await act(acme, world.sam, "suspend", world.shop.gid))["sanction"]["id"]
    assert (await state(acme, world.shop))[0] is S.SUSPENDED
    lifted = await run(acme, world.sam, LIFT, id=suspension, reason="served")
    assert lifted == {
        "errors": [],
        "merchant": {"status": "WARNED"},  # the warning is still in force
        "sanction": {"status": "LIFTED", "endReason": "served"},
    }
    lifted = await run(acme, world.sam, LIFT, id=warning, reason="improved")
    assert lifted["merchant"] == {"status": "ACTIVE"}
    again = await run(acme, world.sam, LIFT, id=warning, reason="twice")
    assert again["errors"] == [{"field": ["sanctionId"], "code": "NOT_IN_FORCE"}]
    async with tenant_scope(acme):
        events = await MerchantEvent.all().order_by("id").values_list("action", "to_status")
        sent = [m["template"] for m in await mails()]
    assert events == [
        ("warn", "warned"),
        ("suspend", "suspended"),
        ("sanction_lift", None),
        ("reinstate", "warned"),
        ("sanction_lift", None),
        ("reinstate", "active"),
    ]
    assert sent == ["merchant_sanctioned"] * 2 + ["merchant_sanction_lifted"] * 2


async def test_removal_and_offboarding(acme: TenantRecord, world: World) -> None:
    removal = await act(acme, world.sam, "remove", world.shop.gid)
    assert removal["merchant"] == {"status": "OFFBOARDING"}
    done = await run(acme, world.sam, OFFBOARD, id=world.shop.gid, reason="settled")
    assert done == {"errors": [], "merchant": {"status": "OFFBOARDED"}}
    late = await run(acme, world.sam, LIFT, id=removal["sanction"]["id"], reason="too late")
    assert late["errors"] == [{"field": None, "code": "INVALID_TRANSITION"}]
    async with tenant_scope(acme):
        assert (await Sanction.get()).status is SanctionStatus.IN_FORCE
        sent = [(m["to"], m["template"], m["params"]["reason"]) for m in await mails()]
    assert sent[-1] == ("ada@example.com", "merchant_offboarded", "settled")


async def test_nobody_lifts_a_sanction_of_their_own_merchant(
    acme: TenantRecord, world: World
) -> None:
    suspension = (await act(acme, world.sam, "suspend", world.shop.gid))["sanction"]["id"]
    owner_id = world.shop.owner.id
    own = user_with("merchants:sanction", user_id=owner_id)
    refused = await run(acme, own, LIFT, id=suspension, reason="all fine now")
    assert refused["errors"] == [{"field": None, "code": "SELF_NOT_ALLOWED"}]
    assert (await state(acme, world.shop))[0] is S.SUSPENDED


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.APPROVED, "warn"),
        (S.IN_REVIEW, "suspend"),
        (S.SUSPENDED, "suspend"),
        (S.OFFBOARDED, "remove"),
        (S.AGREEMENT_PENDING, "suspend"),
    ],
)
async def test_illegal_transitions_are_refused_and_change_nothing(
    acme: TenantRecord, world: World, status: MerchantStatus, action: str
) -> None:
    async with tenant_scope(acme):
        shop = await make_shop("Bob's Bikes", "bob@example.com", status)
    before = await state(acme, shop)
    done = await act(acme, world.sam, action, to_global_id("Merchant", shop.merchant.id))
    assert done == {
        "errors": [{"field": None, "code": "INVALID_TRANSITION"}],
        "merchant": None,
        "sanction": None,
    }
    complete = await run(acme, world.sam, OFFBOARD, id=shop.gid, reason="done")
    assert complete["errors"] == [{"field": None, "code": "INVALID_TRANSITION"}]
    assert await state(acme, shop) == before


async def test_a_sanction_needs_a_reason_and_the_permission_for_the_merchant(
    acme: TenantRecord, world: World
) -> None:
    before = await state(acme, world.shop)
    blank = await act(acme, world.sam, "warn", world.shop.gid, reason=" ", evidence=[""])
    assert blank["errors"] == [
        {"field": ["reason"], "code": "REQUIRED"},
        {"field": ["evidence", "0"], "code": "REQUIRED"},
    ]
    elsewhere = user_with("merchants:sanction", merchant_id=world.shop.merchant.id + 1)
    hidden = await act(acme, elsewhere, "warn", world.shop.gid)
    assert hidden["errors"] == [{"field": ["id"], "code": "NOT_FOUND"}]
    assert await state(acme, world.shop) == before


async def sanction_of(tenant: TenantRecord, world: World, action: str = "warn") -> str:
    return str((await act(tenant, world.sam, action, world.shop.gid))["sanction"]["id"])


async def test_the_merchant_appeals_once_per_sanction(acme: TenantRecord, world: World) -> None:
    sanction = await sanction_of(acme, world)
    done = await run(acme, world.owner, APPEAL, id=sanction, statement="It was the courier.")
    assert done["errors"] == []
    assert done["appeal"]["statement"] == "It was the courier."
    assert done["appeal"]["decision"] is None
    assert done["appeal"]["sanction"] == {"kind": "WARNING", "status": "IN_FORCE"}
    again = await run(acme, world.owner, APPEAL, id=sanction, statement="Really.")
    assert again["errors"] == [{"field": ["sanctionId"], "code": "ALREADY_APPEALED"}]
    async with tenant_scope(acme):
        clerk = await principal_of(await make_staff(world.shop, "cleo@example.com"))
        assert await Appeal.all().count() == 1
    other = await sanction_of(acme, world, "suspend")
    by_clerk = await run(acme, clerk, APPEAL, id=other, statement="me too")  # no merchants:manage
    assert by_clerk["errors"] == [{"field": ["sanctionId"], "code": "NOT_FOUND"}]
    # The tenant's own managers do not use up the merchant's one appeal.
    tenant_manager = user_with("merchants:read", "merchants:manage", user_id=900)
    by_tenant = await run(acme, tenant_manager, APPEAL, id=other, statement="for them")
    assert by_tenant["errors"] == [{"field": ["sanctionId"], "code": "NOT_OWNER"}]


async def test_concurrent_appeals_of_one_sanction_land_once(
    acme: TenantRecord, world: World
) -> None:
    await sanction_of(acme, world)
    async with tenant_scope(acme):
        merchant = await reload(world.shop)
        sanction = await Sanction.get()

    async def attempt(n: int) -> str:
        async with tenant_scope(acme):
            try:
                await sanctions.appeal(world.owner, merchant, sanction, f"statement {n}")
            except DomainError as exc:
                return exc.errors[0].code
            return "appealed"

    results = await asyncio.gather(*(attempt(n) for n in range(4)))
    assert sorted(results) == ["ALREADY_APPEALED"] * 3 + ["appealed"]
    async with tenant_scope(acme):
        assert await Appeal.all().count() == 1


async def test_an_ended_sanction_cannot_be_appealed(acme: TenantRecord, world: World) -> None:
    sanction = await sanction_of(acme, world)
    await run(acme, world.sam, LIFT, id=sanction, reason="withdrawn")
    done = await run(acme, world.owner, APPEAL, id=sanction, statement="anyway")
    assert done["errors"] == [{"field": ["sanctionId"], "code": "NOT_IN_FORCE"}]


async def appealed(tenant: TenantRecord, world: World, action: str = "suspend") -> str:
    sanction = await sanction_of(tenant, world, action)
    done = await run(tenant, world.owner, APPEAL, id=sanction, statement="Not fair.")
    return str(done["appeal"]["id"])


async def test_neither_the_issuer_nor_the_merchant_decides(
    acme: TenantRecord, world: World
) -> None:
    appeal = await appealed(acme, world)
    before = await state(acme, world.shop)
    async with tenant_scope(acme):
        cleo = await make_staff(world.shop, "cleo@example.com")
    # Reviewers, were anyone to give them merchants:review: the owner, its staff.
    reviewing_owner = user_with("merchants:review", user_id=world.shop.owner.id)
    reviewing_staff = replace(
        user_with("merchants:review", user_id=cleo.id), merchant_id=world.shop.merchant.id
    )
    for principal in (world.sam, reviewing_owner, reviewing_staff):
        done = await run(acme, principal, DECIDE, id=appeal, decision="OVERTURNED", reason="no")
        assert done["errors"] == [{"field": ["appealId"], "code": "SELF_NOT_ALLOWED"}]
    assert await state(acme, world.shop) == before


async def test_an_upheld_appeal_leaves_the_sanction(acme: TenantRecord, world: World) -> None:
    appeal = await appealed(acme, world)
    done = await run(
        acme, world.rita, DECIDE, id=appeal, decision="UPHELD", reason="evidence holds"
    )
    assert done == {
        "errors": [],
        "merchant": {"status": "SUSPENDED"},
        "appeal": {"decision": "UPHELD", "decisionReason": "evidence holds"},
    }
    again = await run(acme, world.rita, DECIDE, id=appeal, decision="OVERTURNED", reason="hm")
    assert again["errors"] == [{"field": ["appealId"], "code": "ALREADY_DECIDED"}]
    async with tenant_scope(acme):
        mail = (await mails())[-1]
        assert (await Sanction.get()).status is SanctionStatus.IN_FORCE
    assert (mail["template"], mail["params"]["decision"], mail["params"]["sanction"]) == (
        "merchant_appeal_decided",
        "upheld",
        "suspension",
    )


@pytest.mark.parametrize(
    ("start", "first", "action", "restored"),
    [
        (S.ACTIVE, None, "suspend", "ACTIVE"),
        (S.ACTIVE, "warn", "suspend", "WARNED"),
        (S.ACTIVE, "warn", "warn", "WARNED"),  # the first warning still holds
        (S.ACTIVE, "suspend", "remove", "SUSPENDED"),
        (S.AGREEMENT_PENDING, None, "remove", "AGREEMENT_PENDING"),
    ],
)
async def test_an_overturned_sanction_restores_the_merchant(
    acme: TenantRecord,
    world: World,
    start: MerchantStatus,
    first: str | None,
    action: str,
    restored: str,
) -> None:
    async with tenant_scope(acme):
        await Merchant.filter(id=world.shop.merchant.id).update(status=start)
    if first is not None:
        await sanction_of(acme, world, first)
    appeal = await appealed(acme, world, action)
    done = await run(acme, world.rita, DECIDE, id=appeal, decision="OVERTURNED", reason="wrong")
    assert done["errors"] == []
    assert done["merchant"] == {"status": restored}
    async with tenant_scope(acme):
        row = await Appeal.get().prefetch_related("sanction")
    assert (row.decision, row.sanction.status, row.sanction.end_reason) == (
        AppealDecision.OVERTURNED,
        SanctionStatus.OVERTURNED,
        "wrong",
    )


async def test_an_overturned_removal_after_offboarding_is_only_recorded(
    acme: TenantRecord, world: World
) -> None:
    appeal = await appealed(acme, world, "remove")
    await run(acme, world.sam, OFFBOARD, id=world.shop.gid, reason="settled")
    done = await run(acme, world.rita, DECIDE, id=appeal, decision="OVERTURNED", reason="wrong")
    assert done["errors"] == []
    assert done["merchant"] == {"status": "OFFBOARDED"}
    async with tenant_scope(acme):
        assert (await Sanction.get()).status is SanctionStatus.OVERTURNED


async def test_the_merchant_sees_its_sanctions_and_appeals(
    acme: TenantRecord, world: World
) -> None:
    await act(acme, world.sam, "warn", world.shop.gid, evidence=["order 17"])
    await appealed(acme, world, "suspend")
    async with tenant_scope(acme):
        clerk = await principal_of(await make_staff(world.shop, "cleo@example.com"))
        other = await make_shop("Bob's Bikes", "bob@example.com")
        stranger = await other.principal()
    expected = [
        {"kind": "SUSPENSION", "status": "IN_FORCE", "reason": "late deliveries", "evidence": [],
         "endReason": None, "appeal": {"statement": "Not fair.", "decision": None}},
        {"kind": "WARNING", "status": "IN_FORCE", "reason": "late deliveries",
         "evidence": ["order 17"], "endReason": None, "appeal": None},
    ]  # fmt: skip
    for principal in (world.owner, clerk, world.rita):
        seen = await gql(acme, principal, SANCTIONS, id=world.shop.gid)
        assert seen["data"]["node"]["sanctions"] == expected
    assert (await gql(acme, stranger, SANCTIONS, id=world.shop.gid))["data"]["node"] is None


async def test_the_appeal_queue_is_oldest_first(acme: TenantRecord, world: World) -> None:
    first = await appealed(acme, world, "warn")
    second = await appealed(acme, world, "suspend")
    await run(acme, world.rita, DECIDE, id=first, decision="UPHELD", reason="holds")
    queue = """
    query Q($decided: Boolean) {
      merchantAppeals(filter: {decided: $decided}) { nodes { id decision sanction { kind } } }
    }"""
    every = await gql(acme, world.rita, queue)
    assert every["data"]["merchantAppeals"]["nodes"] == [
        {"id": first, "decision": "UPHELD", "sanction": {"kind": "WARNING"}},
        {"id": second, "decision": None, "sanction": {"kind": "SUSPENSION"}},
    ]
    waiting = await gql(acme, world.rita, queue, decided=False)
    assert [n["id"] for n in waiting["data"]["merchantAppeals"]["nodes"]] == [second]
    elsewhere = user_with("merchants:review", merchant_id=world.shop.merchant.id + 1)
    assert (await gql(acme, elsewhere, queue))["data"]["merchantAppeals"]["nodes"] == []


async def test_a_retried_warning_with_its_key_warns_once(acme: TenantRecord, world: World) -> None:
    query = (
        "mutation W($id: ID!, $reason: String!, $key: String) {"
        " merchantWarn(id: $id, reason: $reason, idempotencyKey: $key)"
        " { errors { field code } sanction { id } } }"
    )
    first = await run(acme, world.sam, query, id=world.shop.gid, reason="late", key="k-1")
    again = await run(acme, world.sam, query, id=world.shop.gid, reason="late", key="k-1")
    other = await run(acme, world.sam, query, id=world.shop.gid, reason="rude", key="k-1")
    assert again == first
    assert first["errors"] == []
    assert other["errors"] == [{"field": ["idempotencyKey"], "code": "IDEMPOTENCY_KEY_REUSED"}]
    async with tenant_scope(acme):
        assert await Sanction.all().count() == 1
        assert len(await mails()) == 1
