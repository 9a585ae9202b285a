"""Merchant staff of merchant A can neither see nor change merchant B (to them it does
not exist: NOT_FOUND, null), and another tenant sees neither."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schema.core.nodes import to_global_id
from schema.core.principal import Principal
from schema.merchants.models import (
    Appeal,
    Merchant,
    MerchantAgreement,
    MerchantEvent,
    Sanction,
    SanctionKind,
    StaffInvitation,
)
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import principal_of
from tests.schema.graphql import gql
from tests.schema.merchants.people import Shop, make_officer, make_shop, make_staff

NODE = "query N($id: ID!) { node(id: $id) { id } }"


@dataclass
class Two:
    a: Shop
    b: Shop
    a_owner: Principal
    a_manager: Principal  # merchant_owner of A, not its owner
    a_clerk: Principal
    b_sanction: str
    b_invitation: str


@pytest.fixture
async def two(acme: TenantRecord) -> Two:
    async with tenant_scope(acme):
        a = await make_shop("Ada's Bakery", "ada@example.com")
        b = await make_shop("Bob's Bikes", "bob@example.com")
        manager = await make_staff(a, "max@example.com", "merchant_owner")
        clerk = await make_staff(a, "cleo@example.com")
        sanction = await Sanction.create(
            merchant_id=b.merchant.id, kind=SanctionKind.WARNING, reason="late",
            status_before="active", issued_by="user:99", issued_at=datetime.now(UTC),
        )  # fmt: skip
        await Appeal.create(
            sanction=sanction, merchant_id=b.merchant.id, statement="no",
            submitted_by=f"user:{b.owner.id}", submitted_at=datetime.now(UTC),
        )  # fmt: skip
        invitation = await StaffInvitation.create(
            merchant_id=b.merchant.id, email="x@example.com", role_key="merchant_staff",
            token_hash="0" * 64, invited_by=f"user:{b.owner.id}", created_at=datetime.now(UTC),
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )  # fmt: skip
        await MerchantAgreement.create(
            version="v1", title="Terms", body="b", body_sha256="0" * 64,
            published_at=datetime.now(UTC), published_by="user:99",
        )  # fmt: skip
        return Two(
            a, b, await a.principal(), await principal_of(manager), await principal_of(clerk),
            to_global_id("MerchantSanction", sanction.id),
            to_global_id("MerchantStaffInvitation", invitation.id),
        )  # fmt: skip


async def b_state(tenant: TenantRecord, two: Two) -> tuple[object, ...]:
    async with tenant_scope(tenant):
        merchant = await Merchant.get(id=two.b.merchant.id)
        return (
            merchant.status,
            merchant.version,
            await Sanction.all().values_list("status", flat=True),
            await StaffInvitation.all().values_list("revoked_at", flat=True),
            await Appeal.all().count(),
            await MerchantEvent.all().count(),
        )


def mutations(two: Two) -> list[tuple[str, dict[str, Any], str]]:
    """(mutation, variables, the field NOT_FOUND names) aimed at merchant B."""
    b = two.b.gid
    return [
        ("merchantAgreementAccept(merchantId: $m, version: \"v1\")", {"m": b}, "merchantId"),
        ('merchantStaffInvite(merchantId: $m, email: "x@example.com")', {"m": b}, "merchantId"),
        ("merchantStaffInvitationRevoke(id: $m)", {"m": two.b_invitation}, "id"),
        (
            'merchantStaffRemove(merchantId: $m, userId: $u, reason: "r")',
            {"m": b, "u": to_global_id("User", two.b.owner.id)},
            "merchantId",
        ),
        ('merchantSanctionAppeal(sanctionId: $m, statement: "s")', {"m": two.b_sanction},
         "sanctionId"),
    ]  # fmt: skip


async def test_staff_of_one_merchant_cannot_see_another(acme: TenantRecord, two: Two) -> None:
    for principal in (two.a_owner, two.a_manager, two.a_clerk):
        for gid in (two.b.gid, two.b_sanction, two.b_invitation):
            assert (await gql(acme, principal, NODE, id=gid))["data"]["node"] is None
        # ...while their own merchant is there.
        assert (await gql(acme, principal, NODE, id=two.a.gid))["data"]["node"] == {"id": two.a.gid}


async def test_staff_of_one_merchant_cannot_change_another(acme: TenantRecord, two: Two) -> None:
    before = await b_state(acme, two)
    for principal in (two.a_owner, two.a_manager, two.a_clerk):
        for call, variables, field in mutations(two):
            name = call.split("(")[0]
            declared = ", ".join(f"${v}: ID!" for v in variables)
            query = f"mutation M({declared}) {{ {call} {{ errors {{ field code }} }} }}"
            payload = await gql(acme, principal, query, **variables)
            assert payload["data"][name]["errors"] == [{"field": [field], "code": "NOT_FOUND"}]
    assert await b_state(acme, two) == before


async def test_another_tenant_sees_neither(acme: TenantRecord, two: Two) -> None:
    globex = await create_tenant("globex", "Globex", actor="test")
    async with tenant_scope(globex):
        director = await principal_of(await make_officer("olga@globex.example"))
    for gid in (two.a.gid, two.b.gid, two.b_sanction):
        assert (await gql(globex, director, NODE, id=gid))["data"]["node"] is None
    warn = 'mutation W($id: ID!) { merchantWarn(id: $id, reason: "r") { errors { code } } }'
    payload = await gql(globex, director, warn, id=two.a.gid)
    assert payload["data"]["merchantWarn"]["errors"] == [{"code": "NOT_FOUND"}]
    listed = await gql(globex, director, "{ publicMerchants { nodes { name } } }")
    assert listed["data"]["publicMerchants"]["nodes"] == []
    async with tenant_scope(acme):
        assert await MerchantEvent.all().count() == 0
