"""Roles and assignments: the escalation, owner and merchant rules, the change log, and
what a user's access comes to."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from schema.access.catalog import PERMISSIONS, expand
from schema.access.models import AccessChange, Role, RoleAssignment
from schema.access.service import (
    RoleInput,
    access_for_user,
    assign,
    assign_role,
    create_role,
    delete_role,
    grants_for_scopes,
    roles_of,
    stored_permissions,
    unassign,
    update_role,
)
from schema.access.templates import OWNER, TEMPLATES_BY_KEY, MerchantScope
from schema.core.errors import DomainError
from schema.core.principal import system_principal
from schema.identity.models import User, UserStatus, UserType
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import make_user, principal_of

SYSTEM = system_principal("test")


async def refused(call: Awaitable[object]) -> list[tuple[tuple[str, ...], str]]:
    """The (field, code) pairs a refused call raised."""
    with pytest.raises(DomainError) as caught:
        await call
    return [(e.field, e.code) for e in caught.value.errors]


async def assignments() -> list[tuple[int, str, int | None]]:
    rows = (
        await RoleAssignment.all().order_by("id").values_list("user_id", "role__key", "merchant_id")
    )
    return [(u, r, m) for u, r, m in rows]


async def log_size() -> int:
    return await AccessChange.all().count()


async def staff(
    email: str,
    role: str,
    for_merchant: int | None = None,
    *,
    status: UserStatus = UserStatus.ACTIVE,
    **user: object,
) -> User:
    """A user holding ``role`` (for one merchant); deactivated afterwards when ``status``
    says so."""
    person = await make_user(email, **user)  # type: ignore[arg-type]
    await assign(SYSTEM, person.id, role, merchant_id=for_merchant)
    if status is not UserStatus.ACTIVE:
        await User.filter(id=person.id).update(status=status)
    return person


# --- access ------------------------------------------------------------------------------


async def test_access_merges_the_roles_a_user_holds(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        ann = await staff("ann@acme.example", "auditor")
        await assign(SYSTEM, ann.id, "merchant_staff", merchant_id=7)
        await assign(SYSTEM, ann.id, "merchant_staff", merchant_id=9)
        access = await access_for_user(ann.id)
        held = await roles_of(ann.id)
        assert await access_for_user(ann.id + 1000) is None
    assert access is not None
    assert (access.active, access.merchant_id, access.user_type) == (True, None, "tenant_staff")
    grants = access.grants
    staff_only = set(TEMPLATES_BY_KEY["merchant_staff"].permissions) - {
        p for p in PERMISSIONS if p.endswith(":read")
    }
    assert staff_only == {"listings:manage", "orders:manage", "support:manage"}
    assert grants.permissions == set(TEMPLATES_BY_KEY["auditor"].permissions) | staff_only
    # Merchant-limited roles hold for their merchants only; a tenant-wide role for all.
    assert grants.merchants("listings:manage") == {7, 9}
    assert grants.allows("listings:manage", 7)
    assert not grants.allows("listings:manage", 8)
    assert grants.merchants("listings:read") is None  # the auditor reads everything
    assert [(h.key, h.merchant_id) for h in held] == [
        ("auditor", None),
        ("merchant_staff", 7),
        ("merchant_staff", 9),
    ]


async def test_a_deactivated_account_has_no_grants(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        ann = await staff("ann@acme.example", "auditor", status=UserStatus.DEACTIVATED)
        access = await access_for_user(ann.id)
    assert access is not None
    assert (access.active, access.grants.permissions) == (False, frozenset())


def test_grants_for_scopes_expand_patterns_and_ignore_the_rest() -> None:
    grants = grants_for_scopes(["orders:*", "users:read", "openid", "no:such"], merchant_id=7)
    assert grants.permissions == {p for p in PERMISSIONS if p.startswith("orders:")} | {
        "users:read"
    }
    assert all(grants.merchants(p) == {7} for p in grants.permissions)
    assert grants_for_scopes(["*"]).permissions == set(PERMISSIONS)
    assert grants_for_scopes(["*"]).merchants("orders:read") is None
    assert grants_for_scopes(["openid", "profile"]).permissions == frozenset()


# --- the cache ---------------------------------------------------------------------------


async def test_access_is_cached_and_every_change_refreshes_it(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        ann = await staff("ann@acme.example", "content_editor")
        bob = await staff("bob@acme.example", "content_editor")
        first = await access_for_user(ann.id)
        # Written behind the service's back: the cached access stays (until its TTL).
        await User.filter(id=ann.id).update(status=UserStatus.DEACTIVATED)
        assert await access_for_user(ann.id) is first
        await User.filter(id=ann.id).update(status=UserStatus.ACTIVE)

        await assign(SYSTEM, ann.id, "auditor")
        assert "audit:read" in (await access_for_user(ann.id)).grants.permissions  # type: ignore[union-attr]

        await create_role(SYSTEM, "writer", RoleInput(name="Writer", permissions=["content:read"]))
        await assign(SYSTEM, bob.id, "writer")
        bob_before = await access_for_user(bob.id)
        ann_before = await access_for_user(ann.id)
        # A role edit refreshes every user of the tenant, holders or not.
        await update_role(
            SYSTEM, "writer", RoleInput(permissions=["content:read", "analytics:read"])
        )
        bob_after = await access_for_user(bob.id)
        assert bob_after is not bob_before
        assert await access_for_user(ann.id) is not ann_before
        assert "analytics:read" in bob_after.grants.permissions  # type: ignore[union-attr]

        await unassign(SYSTEM, bob.id, "writer")
        assert "analytics:read" not in (await access_for_user(bob.id)).grants.permissions  # type: ignore[union-attr]


def test_the_cache_expires_and_never_stores_a_load_that_raced_a_change() -> None:
    from schema.access.service import AccessCache, UserAccess
    from schema.core.principal import Grants

    cache = AccessCache(ttl=60)
    access = UserAccess(True, Grants(), None, "user")
    mark = cache.mark("t1", 1)
    cache.forget_user("t1", 1)  # a change committed while the load ran
    cache.put("t1", 1, mark, access)
    assert cache.get("t1", 1) == (False, None)

    cache.put("t1", 1, cache.mark("t1", 1), access)
    assert cache.get("t1", 1) == (True, access)
    assert cache.get("t2", 1) == (False, None)  # another tenant's user 1
    cache.forget_tenant("t1")
    assert cache.get("t1", 1) == (False, None)

    expired = AccessCache(ttl=0)
    expired.put("t1", 1, expired.mark("t1", 1), access)
    assert expired.get("t1", 1) == (False, None)

    small = AccessCache(ttl=60, max_entries=2)
    for user_id in (1, 2, 3):
        small.put("t1", user_id, small.mark("t1", user_id), access)
    assert [small.get("t1", u)[0] for u in (1, 2, 3)] == [False, True, True]


# --- escalation --------------------------------------------------------------------------


async def test_nobody_grants_what_they_do_not_hold(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        admin = await principal_of(await staff("ada@acme.example", "administrator"))
        eve = await make_user("eve@acme.example")
        before = (await assignments(), await log_size())

        assert await refused(assign(admin, eve.id, OWNER)) == [
            (("roleKey",), "PERMISSION_NOT_HELD")
        ]
        assert await refused(assign(admin, eve.id, "finance_officer")) == [
            (("roleKey",), "PERMISSION_NOT_HELD")
        ]
        assert await refused(
            create_role(admin, "payer", RoleInput(name="Payer", permissions=["payouts:*"]))
        ) == [(("permissions",), "PERMISSION_NOT_HELD")]
        assert (await assignments(), await log_size()) == before

        # What the administrator holds, it may grant.
        await assign(admin, eve.id, "auditor", reason="yearly audit")
        [change] = await AccessChange.filter(action="role_assigned", user_id=eve.id)
    assert (change.role_key, change.actor, change.reason) == (
        "auditor",
        f"user:{admin.user_id}",
        "yearly audit",
    )


async def test_a_merchant_owner_grants_only_for_their_merchant(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        mo = await principal_of(
            await staff("mo@shop.example", "merchant_owner", 7, merchant_id=7,
                        user_type=UserType.MERCHANT_STAFF)
        )  # fmt: skip
        sam = await make_user("sam@shop.example", merchant_id=7, user_type=UserType.MERCHANT_STAFF)

        await assign(mo, sam.id, "merchant_staff", merchant_id=7)
        assert await refused(assign(mo, sam.id, "merchant_owner", merchant_id=8)) == [
            (("roleKey",), "PERMISSION_NOT_HELD")
        ]
        assert await refused(assign(mo, sam.id, "operations_specialist")) == [
            (("roleKey",), "PERMISSION_NOT_HELD")
        ]
        # Holding roles:assign for a merchant is not enough to change roles themselves.
        assert await refused(
            create_role(mo, "helper", RoleInput(name="Helper", permissions=["orders:read"]))
        ) == [(("permissions",), "PERMISSION_NOT_HELD")]
        assert (sam.id, "merchant_staff", 7) in await assignments()


async def test_nobody_edits_or_removes_a_role_above_them(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await create_role(SYSTEM, "payer", RoleInput(name="Payer", permissions=["payouts:*"]))
        admin = await principal_of(await staff("ada@acme.example", "administrator"))
        olga = await staff("olga@acme.example", OWNER)
        await staff("otto@acme.example", OWNER)
        before = (await assignments(), await log_size())

        assert await refused(update_role(admin, "payer", RoleInput(name="Pay"))) == [
            (("permissions",), "PERMISSION_NOT_HELD")
        ]
        assert await refused(delete_role(admin, "payer")) == [(("key",), "PERMISSION_NOT_HELD")]
        assert await refused(unassign(admin, olga.id, OWNER)) == [
            (("roleKey",), "PERMISSION_NOT_HELD")
        ]
        assert (await assignments(), await log_size()) == before
        assert (await Role.get(key="payer")).name == "Payer"


# --- the owner ---------------------------------------------------------------------------


async def test_the_last_owner_keeps_the_role(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        olga = await staff("olga@acme.example", OWNER)
        owner = await principal_of(olga)
        assert await refused(unassign(owner, olga.id, OWNER)) == [(("userId",), "LAST_OWNER")]
        # A deactivated owner does not count as the one who remains.
        gone = await staff("gone@acme.example", OWNER, status=UserStatus.DEACTIVATED)
        assert await refused(unassign(owner, olga.id, OWNER)) == [(("userId",), "LAST_OWNER")]

        otto = await staff("otto@acme.example", OWNER)
        await unassign(owner, olga.id, OWNER, reason="handed over to Otto")
        assert await refused(unassign(SYSTEM, otto.id, OWNER)) == [(("userId",), "LAST_OWNER")]
        await unassign(SYSTEM, gone.id, OWNER)  # an inactive owner may go
        assert await assignments() == [(otto.id, OWNER, None)]


async def test_two_owners_removed_at_once_leave_one(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        owners = [await staff(f"o{n}@acme.example", OWNER) for n in range(2)]
    outcomes = await asyncio.gather(
        *(_unassign_in_own_scope(acme, u.id) for u in owners), return_exceptions=True
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["DomainError", "NoneType"]
    async with tenant_scope(acme):
        assert len(await RoleAssignment.filter(role__key=OWNER)) == 1


async def _unassign_in_own_scope(tenant: TenantRecord, user_id: int) -> None:
    async with tenant_scope(tenant):
        await unassign(SYSTEM, user_id, OWNER)


# --- merchants ---------------------------------------------------------------------------


async def test_merchant_limits_follow_the_role_and_the_user(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        ann = await make_user("ann@acme.example")
        sam = await make_user("sam@shop.example", merchant_id=7, user_type=UserType.MERCHANT_STAFF)
        off = await make_user("off@acme.example", status=UserStatus.DEACTIVATED)
        before = await assignments()

        assert await refused(assign(SYSTEM, ann.id, "merchant_staff")) == [
            (("merchantId",), "MERCHANT_REQUIRED")
        ]
        assert await refused(assign(SYSTEM, ann.id, OWNER, merchant_id=7)) == [
            (("merchantId",), "MERCHANT_NOT_ALLOWED")
        ]
        assert await refused(assign(SYSTEM, sam.id, "merchant_staff", merchant_id=8)) == [
            (("merchantId",), "MERCHANT_MISMATCH")
        ]
        assert await refused(assign(SYSTEM, sam.id, "auditor")) == [
            (("merchantId",), "MERCHANT_MISMATCH")
        ]
        assert await refused(assign(SYSTEM, off.id, "auditor")) == [(("userId",), "USER_INACTIVE")]
        assert await refused(assign(SYSTEM, ann.id, "nobody")) == [(("roleKey",), "ROLE_NOT_FOUND")]
        assert await refused(assign(SYSTEM, 4242, "auditor")) == [(("userId",), "USER_NOT_FOUND")]
        assert await refused(assign(SYSTEM, ann.id, "auditor", merchant_id=0)) == [
            (("merchantId",), "INVALID")
        ]
        assert await assignments() == before

        # Merchant staff may still be customers of the tenant, and an optional role may
        # be limited to one merchant.
        await assign(SYSTEM, sam.id, "user")
        await assign(SYSTEM, ann.id, "auditor", merchant_id=7)
        await assign(SYSTEM, ann.id, "auditor")
        assert await refused(assign(SYSTEM, ann.id, "auditor", merchant_id=7)) == [
            (("roleKey",), "ALREADY_ASSIGNED")
        ]
        assert await assignments() == [
            (sam.id, "user", None), (ann.id, "auditor", 7), (ann.id, "auditor", None),
        ]  # fmt: skip


async def test_assign_role_is_idempotent_for_the_operator(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        olga = await make_user("olga@acme.example")
        await assign_role(olga.id, OWNER)
        await assign_role(olga.id, OWNER)
        assert await assignments() == [(olga.id, OWNER, None)]
        [change] = await AccessChange.filter(action="role_assigned")
        assert change.actor == "system:operator"
        with pytest.raises(DomainError):
            await assign_role(olga.id, "nobody")


# --- roles -------------------------------------------------------------------------------


async def test_a_role_of_the_tenant_own_lifecycle(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        owner = await principal_of(await staff("olga@acme.example", OWNER))
        wanted = ["support:*", "orders:read", "support:read"]
        role = await create_role(
            owner, "night_desk", RoleInput(name=" Night desk ", permissions=wanted),
            reason="24/7 service",
        )  # fmt: skip
        assert (role.name, role.template, role.merchant_scope) == (
            "Night desk", False, MerchantScope.OPTIONAL,
        )  # fmt: skip
        assert await stored_permissions(role.id) == ["orders:read", "support:*", "support:read"]

        await update_role(
            owner, "night_desk", RoleInput(permissions=["support:read"], name="Nights")
        )
        await update_role(owner, "night_desk", RoleInput(name="Nights"))  # no change: no record
        sam = await staff("sam@acme.example", "night_desk")
        assert await refused(delete_role(owner, "night_desk")) == [(("key",), "ROLE_IN_USE")]
        assert await refused(
            update_role(owner, "night_desk", RoleInput(merchant_scope=MerchantScope.REQUIRED))
        ) == [(("merchantScope",), "SCOPE_CONFLICT")]
        await unassign(owner, sam.id, "night_desk")
        await delete_role(owner, "night_desk", reason="merged into service")
        assert not await Role.exists(key="night_desk")
        log = await AccessChange.filter(role_key="night_desk").order_by("id")
    assert [(c.action, c.actor, c.reason, c.detail) for c in log] == [
        ("role_created", f"user:{owner.user_id}", "24/7 service",
         {"permissions": sorted(wanted), "merchant_scope": "optional"}),
        ("role_updated", f"user:{owner.user_id}", None,
         {"changed": {"name": "Nights"}, "added": [], "removed": ["orders:read", "support:*"]}),
        ("role_assigned", "system:test", None, None),
        ("role_unassigned", f"user:{owner.user_id}", None, None),
        ("role_deleted", f"user:{owner.user_id}", "merged into service",
         {"permissions": ["support:read"]}),
    ]  # fmt: skip


async def test_bad_role_input_is_refused_and_changes_nothing(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        before = (await Role.all().count(), await log_size())
        bad = RoleInput(name="", permissions=["orders:read", "x:y", "*:read"])
        assert await refused(create_role(SYSTEM, "Bad Key", bad, reason="r" * 1001)) == [
            (("name",), "INVALID"),
            (("permissions", "1"), "UNKNOWN_PERMISSION"),
            (("permissions", "2"), "UNKNOWN_PERMISSION"),
            (("key",), "INVALID"),
            (("reason",), "INVALID"),
        ]  # fmt: skip
        assert await refused(create_role(SYSTEM, OWNER, RoleInput(name="Mine"))) == [
            (("key",), "KEY_TAKEN")
        ]
        assert await refused(update_role(SYSTEM, "auditor", RoleInput(name="Mine"))) == [
            (("key",), "TEMPLATE_READ_ONLY")
        ]
        assert await refused(delete_role(SYSTEM, "auditor")) == [(("key",), "TEMPLATE_READ_ONLY")]
        assert await refused(update_role(SYSTEM, "nobody", RoleInput(name="Mine"))) == [
            (("key",), "ROLE_NOT_FOUND")
        ]
        assert await refused(update_role(SYSTEM, "auditor", RoleInput())) == [
            ((), "NOTHING_TO_CHANGE")
        ]
        assert (await Role.all().count(), await log_size()) == before
    assert expand(["*:read"]) == frozenset()
