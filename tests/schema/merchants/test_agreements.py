"""The cooperation agreement: publishing versions, the owner's acceptance (the step to
ACTIVE), re-acceptance by a deadline."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schema.audit.models import AuditRecord
from schema.core.nodes import to_global_id
from schema.core.principal import system_principal
from schema.merchants.models import (
    AgreementAcceptance,
    Merchant,
    MerchantAgreement,
    MerchantEvent,
    Sanction,
    SanctionKind,
)
from schema.merchants.service.agreements import (
    NOTIFY_ACTOR,
    AgreementDraft,
    enforce_deadline,
    notify_reacceptance,
    publish,
)
from schema.merchants.status import MerchantStatus
from tenants.outbox import JobOutbox
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import principal_of
from tests.schema.graphql import gql
from tests.schema.identity.conftest import mails
from tests.schema.merchants.people import (
    Shop,
    gql_from,
    make_officer,
    make_shop,
    make_staff,
    reload,
)
from tests.schema.principals import user_with

S = MerchantStatus
CONFIGURE = user_with("merchants:configure", user_id=900)
JOB = system_principal("job:merchants.agreement.deadline")
SOURCE = "203.0.113.7"

PUBLISH = """
mutation P($input: MerchantAgreementPublishInput!) {
  merchantAgreementPublish(input: $input) {
    errors { field code }
    agreement { version title bodySha256 current reacceptanceDeadline }
  }
}"""
ACCEPT = """
mutation A($m: ID!, $v: String!) {
  merchantAgreementAccept(merchantId: $m, version: $v) {
    errors { field code }
    merchant { status activatedAt capabilities }
  }
}"""
ACCEPTANCES = """
query Q($id: ID!) {
  node(id: $id) { ... on Merchant { agreementAcceptances { version userId sourceAddress } } }
}"""


async def published(version: str, deadline: datetime | None = None) -> MerchantAgreement:
    draft = AgreementDraft(version, f"Terms {version}", f"The terms of {version}.", deadline)
    return await publish(CONFIGURE, draft)


async def past_deadline(agreement: MerchantAgreement) -> None:
    """The deadline passed (it can only be set in the future)."""
    past = datetime.now(UTC) - timedelta(minutes=1)
    await MerchantAgreement.filter(id=agreement.id).update(reacceptance_deadline=past)


async def accept(tenant: TenantRecord, shop: Shop, version: str) -> dict[str, Any]:
    async with tenant_scope(tenant):
        principal = await shop.principal()
    payload = await gql_from(tenant, principal, ACCEPT, SOURCE, m=shop.gid, v=version)
    return payload["data"]["merchantAgreementAccept"]


async def test_publishing_makes_the_current_version(acme: TenantRecord) -> None:
    body = "Line one.\nLine two."
    payload = await gql(
        acme, CONFIGURE, PUBLISH, input={"version": " 2026-11 ", "title": "Terms", "body": body}
    )
    assert payload["data"]["merchantAgreementPublish"] == {
        "errors": [],
        "agreement": {
            "version": "2026-11",
            "title": "Terms",
            "bodySha256": hashlib.sha256(body.encode()).hexdigest(),
            "current": True,
            "reacceptanceDeadline": None,
        },
    }
    async with tenant_scope(acme):
        await published("2027-01")
        records = (
            await AuditRecord.filter(operation="merchantAgreementPublish")
            .order_by("id")
            .values_list("actor_subject", "targets")
        )
        assert await JobOutbox.filter(actor=NOTIFY_ACTOR).count() == 0  # no deadline: no mail
    assert records[0] == ("user:900", '["MerchantAgreement:1"]')
    listed = await gql(
        acme,
        user_with("merchants:read"),
        "{ merchantAgreements { nodes { version current } } }",
    )
    assert listed["data"]["merchantAgreements"]["nodes"] == [
        {"version": "2027-01", "current": True},
        {"version": "2026-11", "current": False},
    ]
    one = "query Q($v: String) { merchantAgreement(version: $v) { version current } }"
    anyone = user_with(user_id=5)
    assert (await gql(acme, anyone, one))["data"]["merchantAgreement"] == {
        "version": "2027-01",
        "current": True,
    }
    old = await gql(acme, anyone, one, v="2026-11")
    assert old["data"]["merchantAgreement"] == {"version": "2026-11", "current": False}
    assert (await gql(acme, anyone, one, v="1999"))["data"]["merchantAgreement"] is None


async def test_publishing_refuses_a_taken_version_and_a_past_deadline(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await published("v1")
    payload = await gql(
        acme,
        CONFIGURE,
        PUBLISH,
        input={
            "version": "v1",
            "title": " ",
            "body": "x",
            "reacceptanceDeadline": "2020-01-01T00:00:00+00:00",
        },
    )
    assert payload["data"]["merchantAgreementPublish"]["errors"] == [
        {"field": ["reacceptanceDeadline"], "code": "OUT_OF_RANGE"},
        {"field": ["title"], "code": "REQUIRED"},
        {"field": ["version"], "code": "VERSION_TAKEN"},
    ]
    async with tenant_scope(acme):
        assert await MerchantAgreement.all().values_list("version", flat=True) == ["v1"]


async def test_the_owner_accepts_the_current_version_and_the_merchant_goes_live(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        await published("v1")
        await published("v2")
        shop = await make_shop("Ada's Bakery", "ada@example.com", S.AGREEMENT_PENDING)
    old = await accept(acme, shop, "v1")
    assert old["errors"] == [{"field": ["version"], "code": "AGREEMENT_NOT_CURRENT"}]
    assert old["merchant"] is None
    done = await accept(acme, shop, "v2")
    assert done["errors"] == []
    assert done["merchant"]["status"] == "ACTIVE"
    assert "ACCEPT_ORDERS" in done["merchant"]["capabilities"]
    again = await accept(acme, shop, "v2")
    assert again["errors"] == [{"field": ["version"], "code": "ALREADY_ACCEPTED"}]
    async with tenant_scope(acme):
        merchant = await reload(shop)
        [row] = await AgreementAcceptance.all().select_related("agreement")
        [event] = await MerchantEvent.filter(merchant_id=merchant.id)
        audit = await AuditRecord.filter(operation="merchantAcceptAgreement").count()
    assert merchant.activated_at is not None
    assert merchant.accepted_agreement_id == row.agreement_id
    assert (row.agreement.version, row.user_id, row.source_address) == ("v2", shop.owner.id, SOURCE)
    assert (event.action, event.from_status, event.to_status) == (
        "accept_agreement",
        "agreement_pending",
        "active",
    )
    assert event.details == {"version": "v2", "agreement_id": row.agreement_id}
    assert audit == 1


async def test_an_active_merchant_accepting_a_new_version_only_records_it(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        await published("v1")
        shop = await make_shop("Ada's Bakery", "ada@example.com", S.AGREEMENT_PENDING)
    await accept(acme, shop, "v1")
    async with tenant_scope(acme):
        activated = (await reload(shop)).activated_at
        v2 = await published("v2")
    assert (await accept(acme, shop, "v2"))["errors"] == []
    async with tenant_scope(acme):
        merchant = await reload(shop)
        events = (
            await MerchantEvent.filter(merchant_id=merchant.id)
            .order_by("id")
            .values_list("action", "to_status")
        )
    assert (merchant.status, merchant.activated_at, merchant.accepted_agreement_id) == (
        S.ACTIVE,
        activated,
        v2.id,
    )
    assert events == [("accept_agreement", "active"), ("accept_agreement", None)]


async def test_a_warned_merchant_is_warned_again_once_it_accepted(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await published("v1")
        shop = await make_shop("Ada's Bakery", "ada@example.com", S.AGREEMENT_PENDING)
        await Sanction.create(
            merchant_id=shop.merchant.id, kind=SanctionKind.WARNING, reason="late",
            status_before="warned", issued_by="user:1", issued_at=datetime.now(UTC),
        )  # fmt: skip
    assert (await accept(acme, shop, "v1"))["merchant"]["status"] == "WARNED"


async def test_only_the_owner_accepts(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await published("v1")
        shop = await make_shop("Ada's Bakery", "ada@example.com", S.AGREEMENT_PENDING)
        other = await make_shop("Bob's Bikes", "bob@example.com", S.AGREEMENT_PENDING)
        manager = await make_staff(shop, "max@example.com", "merchant_owner")
        as_manager = await principal_of(manager)
        as_other = await other.principal()
    for principal, code in ((as_manager, "NOT_OWNER"), (as_other, "NOT_FOUND")):
        payload = await gql(acme, principal, ACCEPT, m=shop.gid, v="v1")
        assert payload["data"]["merchantAgreementAccept"]["errors"] == [
            {"field": ["merchantId"], "code": code}
        ]
    async with tenant_scope(acme):
        assert (await reload(shop)).status is S.AGREEMENT_PENDING
        assert await AgreementAcceptance.all().count() == 0


async def test_the_source_address_is_shown_to_whoever_accepted_and_tenant_staff_only(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        await published("v1")
        shop = await make_shop("Ada's Bakery", "ada@example.com", S.AGREEMENT_PENDING)
        clerk = await principal_of(await make_staff(shop, "cleo@example.com"))
        officer = await principal_of(await make_officer("olga@example.com"))
    await accept(acme, shop, "v1")
    async with tenant_scope(acme):
        owner = await shop.principal()
    seen = {}
    for name, principal in (("owner", owner), ("clerk", clerk), ("officer", officer)):
        payload = await gql(acme, principal, ACCEPTANCES, id=shop.gid)
        [acceptance] = payload["data"]["node"]["agreementAcceptances"]
        seen[name] = acceptance.pop("sourceAddress")
        assert acceptance == {"version": "v1", "userId": to_global_id("User", shop.owner.id)}
    assert seen == {"owner": SOURCE, "clerk": None, "officer": SOURCE}


async def test_a_deadline_mails_the_trading_owners(acme: TenantRecord) -> None:
    deadline = datetime.now(UTC) + timedelta(days=30)
    async with tenant_scope(acme):
        active = await make_shop("Ada's Bakery", "ada@example.com", S.ACTIVE)
        await make_shop("Bob's Bikes", "bob@example.com", S.SUSPENDED)
        await make_shop("Cy's Cafe", "cy@example.com", S.AGREEMENT_PENDING)
        agreement = await published("v2", deadline)
        [job] = await JobOutbox.filter(actor=NOTIFY_ACTOR)
        assert job.decoded_args() == {"agreement_id": agreement.id}
        assert await notify_reacceptance(agreement.id) == 1
        [mail] = await mails()
    assert mail == {
        "to": "ada@example.com",
        "template": "merchant_agreement_reaccept",
        "params": {
            "tenant": "Acme Ltd",
            "full_name": active.owner.full_name,
            "business_name": "Ada's Bakery",
            "version": "v2",
            "title": "Terms v2",
            "expires_at": deadline.isoformat(),
        },
    }


async def test_the_deadline_moves_those_that_did_not_accept_once(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await published("v1")
        accepter = await make_shop("Ada's Bakery", "ada@example.com", S.AGREEMENT_PENDING)
    await accept(acme, accepter, "v1")
    async with tenant_scope(acme):
        late = await make_shop("Bob's Bikes", "bob@example.com", S.ACTIVE)
        warned = await make_shop("Cy's Cafe", "cy@example.com", S.WARNED)
        suspended = await make_shop("Di's Deli", "di@example.com", S.SUSPENDED)
        v2 = await published("v2", datetime.now(UTC) + timedelta(days=1))
        assert await enforce_deadline(JOB) == []  # not yet
        await past_deadline(v2)
    assert (await accept(acme, accepter, "v2"))["errors"] == []
    async with tenant_scope(acme):
        moved = await enforce_deadline(JOB)
        assert await enforce_deadline(JOB) == []  # a second run moves nobody
        statuses = {
            name: (await Merchant.get(id=shop.merchant.id)).status
            for name, shop in (("accepter", accepter), ("late", late), ("warned", warned),
                               ("suspended", suspended))
        }  # fmt: skip
        event = await MerchantEvent.filter(merchant_id=late.merchant.id).get()
        sent = [(m["to"], m["template"]) for m in await mails()]
    assert moved == [late.merchant.id, warned.merchant.id]
    assert statuses == {
        "accepter": S.ACTIVE,
        "late": S.AGREEMENT_PENDING,
        "warned": S.AGREEMENT_PENDING,
        "suspended": S.SUSPENDED,
    }
    assert (event.action, event.actor, event.to_status) == (
        "require_agreement",
        "system:job:merchants.agreement.deadline",
        "agreement_pending",
    )
    assert sent.count(("bob@example.com", "merchant_agreement_required")) == 1
    assert sent.count(("cy@example.com", "merchant_agreement_required")) == 1
    assert ("ada@example.com", "merchant_agreement_required") not in sent


async def test_a_newer_version_without_a_deadline_asks_nobody(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        shop = await make_shop("Ada's Bakery", "ada@example.com", S.ACTIVE)
        v2 = await published("v2", datetime.now(UTC) + timedelta(days=1))
        await past_deadline(v2)
        await published("v3")
        assert await enforce_deadline(JOB) == []
        assert await notify_reacceptance(v2.id) == 0
        assert (await reload(shop)).status is S.ACTIVE


@pytest.mark.parametrize("status", [S.DRAFT, S.IN_REVIEW, S.APPROVED, S.SUSPENDED, S.OFFBOARDED])
async def test_accepting_is_refused_in_other_statuses(
    acme: TenantRecord, status: MerchantStatus
) -> None:
    async with tenant_scope(acme):
        await published("v1")
        shop = await make_shop("Ada's Bakery", "ada@example.com", status)
    assert (await accept(acme, shop, "v1"))["errors"] == [
        {"field": None, "code": "INVALID_TRANSITION"}
    ]
    async with tenant_scope(acme):
        assert (await reload(shop)).status is status
        assert await AgreementAcceptance.all().count() == 0
        assert await MerchantEvent.all().count() == 0
