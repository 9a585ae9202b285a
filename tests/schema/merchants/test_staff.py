"""A merchant's staff: invitations by email, accepting them (once, by the invited
address), revoking them, taking people off."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schema.access.models import RoleAssignment
from schema.access.service import RoleInput, access_for_user, assign_role, create_role
from schema.access.templates import MerchantScope
from schema.audit.models import AuditRecord
from schema.core.errors import DomainError
from schema.core.nodes import to_global_id
from schema.core.principal import Principal, system_principal
from schema.identity.models import IdentityPolicy, User, UserType
from schema.merchants.models import MerchantEvent, StaffInvitation
from schema.merchants.service import staff
from schema.merchants.status import MerchantStatus
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import make_user, principal_of
from tests.schema.graphql import gql
from tests.schema.identity.conftest import mails
from tests.schema.merchants.people import Shop, make_shop, make_staff

S = MerchantStatus

INVITE = """
mutation I($m: ID!, $email: String!, $role: String! = "merchant_staff") {
  merchantStaffInvite(merchantId: $m, email: $email, roleKey: $role) {
    errors { field code }
    invitation { email roleKey createdAt expiresAt acceptedAt revokedAt }
  }
}"""
ACCEPT = """
mutation A($token: String!) {
  merchantStaffInvitationAccept(token: $token) {
    errors { field code }
    merchant { name }
  }
}"""
REVOKE = """
mutation R($id: ID!) {
  merchantStaffInvitationRevoke(id: $id) { errors { field code } invitation { revokedAt } }
}"""
REMOVE = """
mutation R($m: ID!, $u: ID!, $reason: String!) {
  merchantStaffRemove(merchantId: $m, userId: $u, reason: $reason) { errors { field code } }
}"""
STAFF = """
query Q($id: ID!) {
  node(id: $id) {
    ... on Merchant { staff { fullName email owner roles } invitations { email roleKey } }
  }
}"""


@pytest.fixture
async def shop(acme: TenantRecord) -> Shop:
    async with tenant_scope(acme):
        return await make_shop("Ada's Bakery", "ada@example.com")


async def owner_of(tenant: TenantRecord, shop: Shop) -> Principal:
    async with tenant_scope(tenant):
        return await shop.principal()


async def invited(
    tenant: TenantRecord, shop: Shop, email: str = "Cleo@Example.com", role: str | None = None
) -> dict[str, Any]:
    given = {"role": role} if role is not None else {}
    owner = await owner_of(tenant, shop)
    payload = await gql(tenant, owner, INVITE, m=shop.gid, email=email, **given)
    return payload["data"]["merchantStaffInvite"]


async def last_token(tenant: TenantRecord) -> str:
    async with tenant_scope(tenant):
        token: str = (await mails())[-1]["params"]["token"]
    return token


async def accepted_by(tenant: TenantRecord, user: User, token: str) -> dict[str, Any]:
    async with tenant_scope(tenant):
        principal = await principal_of(user)
    payload = await gql(tenant, principal, ACCEPT, token=token)
    return payload["data"]["merchantStaffInvitationAccept"]


async def test_the_owner_invites_by_email_and_only_a_hash_is_kept(
    acme: TenantRecord, shop: Shop
) -> None:
    done = await invited(acme, shop)
    assert done["errors"] == []
    invitation = done["invitation"]
    created = datetime.fromisoformat(invitation.pop("createdAt"))
    expires = datetime.fromisoformat(invitation.pop("expiresAt"))
    assert invitation == {"email": "cleo@example.com", "roleKey": "merchant_staff",
                          "acceptedAt": None, "revokedAt": None}  # fmt: skip
    assert expires - created == timedelta(days=7)
    async with tenant_scope(acme):
        [mail] = await mails()
        row = await StaffInvitation.get()
        event = await MerchantEvent.get(merchant_id=shop.merchant.id)
        audited = await AuditRecord.filter(operation="merchantStaffInvite").count()
    token = mail["params"]["token"]
    assert len(token) == 43  # 32 random bytes, URL-safe base64
    assert mail == {
        "to": "cleo@example.com",
        "template": "merchant_staff_invitation",
        "params": {
            "tenant": "Acme Ltd",
            "full_name": "cleo@example.com",  # no account yet: the address itself
            "business_name": "Ada's Bakery",
            "role": "merchant_staff",
            "token": token,
            "link": f"/t/acme/account/merchant-invitation?token={token}",
            "expires_at": row.expires_at.isoformat(),
        },
    }
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (row.invited_by, event.action, event.details) == (
        f"user:{shop.owner.id}",
        "staff_invite",
        {"invitation_id": row.id, "email": "cleo@example.com", "role": "merchant_staff"},
    )
    assert audited == 1


async def test_the_invited_user_joins_with_the_role_limited_to_the_merchant(
    acme: TenantRecord, shop: Shop
) -> None:
    await invited(acme, shop)
    async with tenant_scope(acme):
        cleo = await make_user("cleo@example.com", user_type=UserType.USER)
    done = await accepted_by(acme, cleo, await last_token(acme))
    assert done == {"errors": [], "merchant": {"name": "Ada's Bakery"}}
    async with tenant_scope(acme):
        user = await User.get(id=cleo.id)
        held = await RoleAssignment.filter(user_id=cleo.id).values_list("role__key", "merchant_id")
        access = await access_for_user(cleo.id)
        row = await StaffInvitation.get()
        event = await MerchantEvent.filter(action="staff_invitation_accept").get()
    assert (user.merchant_id, user.user_type) == (shop.merchant.id, UserType.MERCHANT_STAFF)
    assert held == [("merchant_staff", shop.merchant.id)]
    assert access is not None
    assert access.grants.merchants("merchants:read") == {shop.merchant.id}
    assert (row.accepted_user_id, event.actor) == (cleo.id, f"user:{cleo.id}")
    assert row.accepted_at is not None
    listed = await gql(acme, await owner_of(acme, shop), STAFF, id=shop.gid)
    assert listed["data"]["node"] == {
        "staff": [
            {"fullName": "Ada", "email": "ada@example.com", "owner": True,
             "roles": ["merchant_owner"]},
            {"fullName": "Cleo", "email": "cleo@example.com", "owner": False,
             "roles": ["merchant_staff"]},
        ],
        "invitations": [],
    }  # fmt: skip


async def test_another_address_cannot_use_the_invitation(acme: TenantRecord, shop: Shop) -> None:
    await invited(acme, shop)
    async with tenant_scope(acme):
        eve = await make_user("eve@example.com", user_type=UserType.USER)
    done = await accepted_by(acme, eve, await last_token(acme))
    assert done == {"errors": [{"field": ["token"], "code": "EMAIL_MISMATCH"}], "merchant": None}
    async with tenant_scope(acme):
        assert (await User.get(id=eve.id)).merchant_id is None
        assert (await StaffInvitation.get()).accepted_at is None  # still usable by Cleo
        assert await RoleAssignment.filter(user_id=eve.id).count() == 0


async def test_a_tenant_requiring_confirmed_addresses_wants_a_confirmed_one(
    acme: TenantRecord, shop: Shop
) -> None:
    await invited(acme, shop)
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(email_verification_required=True)
        cleo = await make_user("cleo@example.com", user_type=UserType.USER)
    token = await last_token(acme)
    refused = await accepted_by(acme, cleo, token)
    assert refused["errors"] == [{"field": ["token"], "code": "EMAIL_NOT_VERIFIED"}]
    async with tenant_scope(acme):
        await User.filter(id=cleo.id).update(email_verified_at=datetime.now(UTC))
    assert (await accepted_by(acme, cleo, token))["errors"] == []


async def test_an_invitation_works_once(acme: TenantRecord, shop: Shop) -> None:
    await invited(acme, shop)
    async with tenant_scope(acme):
        cleo = await make_user("cleo@example.com", user_type=UserType.USER)
    token = await last_token(acme)
    assert (await accepted_by(acme, cleo, token))["errors"] == []
    again = await accepted_by(acme, cleo, token)
    assert again["errors"] == [{"field": ["token"], "code": "TOKEN_INVALID"}]
    unknown = await accepted_by(acme, cleo, "x" * 43)
    assert unknown["errors"] == [{"field": ["token"], "code": "TOKEN_INVALID"}]


async def test_an_expired_or_replaced_invitation_does_not_work(
    acme: TenantRecord, shop: Shop
) -> None:
    await invited(acme, shop)
    first = await last_token(acme)
    await invited(acme, shop)  # replaces the first
    second = await last_token(acme)
    async with tenant_scope(acme):
        cleo = await make_user("cleo@example.com", user_type=UserType.USER)
    assert (await accepted_by(acme, cleo, first))["errors"][0]["code"] == "TOKEN_INVALID"
    async with tenant_scope(acme):
        past = datetime.now(UTC) - timedelta(seconds=1)
        await StaffInvitation.filter(revoked_at__isnull=True).update(expires_at=past)
    assert (await accepted_by(acme, cleo, second))["errors"][0]["code"] == "TOKEN_INVALID"
    async with tenant_scope(acme):
        assert (await User.get(id=cleo.id)).merchant_id is None


async def test_concurrent_accepts_of_one_invitation_let_one_through(
    acme: TenantRecord, shop: Shop
) -> None:
    await invited(acme, shop)
    token = await last_token(acme)
    async with tenant_scope(acme):
        cleo = await make_user("cleo@example.com", user_type=UserType.USER)

    async def attempt() -> str:
        async with tenant_scope(acme):
            try:
                await staff.accept(await principal_of(cleo), token)
            except DomainError as exc:
                return exc.errors[0].code
            return "joined"

    results = await asyncio.gather(*(attempt() for _ in range(4)))
    assert sorted(results) == ["TOKEN_INVALID"] * 3 + ["joined"]
    async with tenant_scope(acme):
        assert await RoleAssignment.filter(user_id=cleo.id).count() == 1


async def test_someone_working_for_a_merchant_cannot_join_another(
    acme: TenantRecord, shop: Shop
) -> None:
    async with tenant_scope(acme):
        other = await make_shop("Bob's Bikes", "bob@example.com")
        cleo = await make_staff(other, "cleo@example.com")
    await invited(acme, shop)
    done = await accepted_by(acme, cleo, await last_token(acme))
    assert done["errors"] == [{"field": ["token"], "code": "ALREADY_STAFF"}]
    async with tenant_scope(acme):
        assert (await User.get(id=cleo.id)).merchant_id == other.merchant.id


async def test_invitations_need_a_merchant_role_the_inviter_holds(
    acme: TenantRecord, shop: Shop
) -> None:
    async with tenant_scope(acme):
        platform = system_principal("test")
        await create_role(
            platform, "viewer",
            RoleInput(name="Viewer", permissions=["merchants:read"],
                      merchant_scope=MerchantScope.FORBIDDEN),
        )  # fmt: skip
        await create_role(
            platform, "desk",
            RoleInput(name="Desk", permissions=["merchants:read", "merchants:manage"]),
        )  # fmt: skip
        desk = await make_staff(shop, "dan@example.com", "desk")  # manages, cannot assign
        as_desk = await principal_of(desk)
    cases = {"viewer": "ROLE_NOT_ALLOWED", "nobody": "ROLE_NOT_FOUND",
             "operations_manager": "PERMISSION_NOT_HELD"}  # fmt: skip
    for role, code in cases.items():
        assert (await invited(acme, shop, role=role))["errors"] == [
            {"field": ["roleKey"], "code": code}
        ]
    by_desk = await gql(acme, as_desk, INVITE, m=shop.gid, email="x@example.com")
    assert by_desk["data"]["merchantStaffInvite"]["errors"] == [
        {"field": ["roleKey"], "code": "PERMISSION_NOT_HELD"}
    ]
    bad = await invited(acme, shop, email="not an address")
    assert bad["errors"] == [{"field": ["email"], "code": "INVALID"}]
    async with tenant_scope(acme):
        assert await StaffInvitation.all().count() == 0
        assert await mails() == []


@pytest.mark.parametrize("status", [S.APPROVED, S.SUSPENDED, S.OFFBOARDING])
async def test_a_merchant_that_does_not_trade_takes_on_no_staff(
    acme: TenantRecord, status: MerchantStatus
) -> None:
    async with tenant_scope(acme):
        shop = await make_shop("Ada's Bakery", "ada@example.com", status)
    assert (await invited(acme, shop))["errors"] == [
        {"field": ["merchantId"], "code": "MERCHANT_INACTIVE"}
    ]


async def test_revoking_an_invitation(acme: TenantRecord, shop: Shop) -> None:
    await invited(acme, shop)
    async with tenant_scope(acme):
        gid = to_global_id("MerchantStaffInvitation", (await StaffInvitation.get()).id)
    owner = await owner_of(acme, shop)
    listed = await gql(acme, owner, STAFF, id=shop.gid)
    assert listed["data"]["node"]["invitations"] == [
        {"email": "cleo@example.com", "roleKey": "merchant_staff"}
    ]
    done = await gql(acme, owner, REVOKE, id=gid)
    assert done["data"]["merchantStaffInvitationRevoke"]["errors"] == []
    assert done["data"]["merchantStaffInvitationRevoke"]["invitation"]["revokedAt"] is not None
    again = await gql(acme, owner, REVOKE, id=gid)
    assert again["data"]["merchantStaffInvitationRevoke"]["errors"] == [
        {"field": ["id"], "code": "NOT_PENDING"}
    ]
    async with tenant_scope(acme):
        cleo = await make_user("cleo@example.com", user_type=UserType.USER)
    refused = await accepted_by(acme, cleo, await last_token(acme))
    assert refused["errors"] == [{"field": ["token"], "code": "TOKEN_INVALID"}]


async def test_taking_someone_off_the_staff(acme: TenantRecord, shop: Shop) -> None:
    async with tenant_scope(acme):
        max_ = await make_staff(shop, "max@example.com", "merchant_owner")
        cleo = await make_staff(shop, "cleo@example.com")
        as_max = await principal_of(max_)
    # Max invites someone, then leaves: his invitation goes with him.
    await gql(acme, as_max, INVITE, m=shop.gid, email="nina@example.com")
    owner = await owner_of(acme, shop)
    for user in (max_, cleo):
        done = await gql(acme, owner, REMOVE, m=shop.gid, u=to_global_id("User", user.id),
                         reason="left")  # fmt: skip
        assert done["data"]["merchantStaffRemove"]["errors"] == []
    async with tenant_scope(acme):
        users = (
            await User.filter(id__in=[max_.id, cleo.id])
            .order_by("id")
            .values_list("merchant_id", "user_type")
        )
        assert await RoleAssignment.filter(user_id__in=[max_.id, cleo.id]).count() == 0
        access = await access_for_user(cleo.id)
        assert await StaffInvitation.filter(revoked_at__isnull=True).count() == 0
        event = await MerchantEvent.filter(action="staff_remove").order_by("id").first()
    assert users == [(None, UserType.USER), (None, UserType.USER)]
    assert access is not None
    assert access.grants.merchants("merchants:read") == frozenset()
    assert event is not None
    assert (event.reason, event.details) == ("left", {"user_id": max_.id,
                                                      "roles": ["merchant_owner"]})  # fmt: skip


async def test_the_owner_stays(acme: TenantRecord, shop: Shop) -> None:
    async with tenant_scope(acme):
        max_ = await make_staff(shop, "max@example.com", "merchant_owner")
        as_max = await principal_of(max_)
        stranger = await make_user("sam@example.com")
    for user, code, field in (
        (shop.owner, "CANNOT_REMOVE_OWNER", "userId"),
        (stranger, "NOT_FOUND", "userId"),
    ):
        done = await gql(acme, as_max, REMOVE, m=shop.gid, u=to_global_id("User", user.id),
                         reason="out")  # fmt: skip
        assert done["data"]["merchantStaffRemove"]["errors"] == [{"field": [field], "code": code}]
    async with tenant_scope(acme):
        assert await RoleAssignment.filter(user_id=shop.owner.id).count() == 1


async def test_removing_needs_what_the_roles_grant(acme: TenantRecord, shop: Shop) -> None:
    async with tenant_scope(acme):
        platform = system_principal("test")
        await create_role(
            platform, "desk",
            RoleInput(name="Desk", permissions=["merchants:read", "merchants:manage",
                                                "roles:assign"]),
        )  # fmt: skip
        desk = await make_staff(shop, "dan@example.com", "desk")
        cleo = await make_staff(shop, "cleo@example.com")  # merchant_staff: listings, orders...
        await assign_role(cleo.id, "desk", merchant_id=shop.merchant.id)
        as_desk = await principal_of(desk)
    done = await gql(acme, as_desk, REMOVE, m=shop.gid, u=to_global_id("User", cleo.id),
                     reason="out")  # fmt: skip
    assert done["data"]["merchantStaffRemove"]["errors"] == [
        {"field": ["userId"], "code": "PERMISSION_NOT_HELD"}
    ]
    async with tenant_scope(acme):
        assert await RoleAssignment.filter(user_id=cleo.id).count() == 2


async def test_only_managers_see_the_staff(acme: TenantRecord, shop: Shop) -> None:
    async with tenant_scope(acme):
        clerk = await principal_of(await make_staff(shop, "cleo@example.com"))
    seen = await gql(acme, clerk, STAFF, id=shop.gid)
    assert seen["data"]["node"] == {"staff": None, "invitations": None}
