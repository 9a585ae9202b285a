"""The template roles every new tenant starts with, kept in step with the code."""

from __future__ import annotations

from schema.access.catalog import PERMISSIONS, PRIVILEGED, SELF_SERVICE, expand
from schema.access.models import AccessChange, Role, RolePermission
from schema.access.service import access_for_user, assign_role, stored_permissions, sync_templates
from schema.access.templates import OWNER, TEMPLATES, TEMPLATES_BY_KEY, MerchantScope
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import make_user

REQUIRED_KEYS = {
    "owner", "administrator", "operations_director", "operations_manager",
    "operations_specialist", "content_editor", "campaign_planner", "promotion_specialist",
    "customer_service_agent", "quality_inspector", "finance_officer", "auditor",
    "merchant_owner", "merchant_staff", "member", "user",
}  # fmt: skip


def test_the_templates_are_the_requirements_roles_with_known_permissions() -> None:
    assert {t.key for t in TEMPLATES} == REQUIRED_KEYS
    for template in TEMPLATES:
        assert template.permissions, template.key
        assert expand(template.permissions) >= set(template.permissions) - {"*"}
        assert set(template.permissions) - {"*"} <= set(PERMISSIONS), template.key


def test_least_privilege_where_it_matters() -> None:
    auditor = set(TEMPLATES_BY_KEY["auditor"].permissions)
    assert "audit:read" in auditor
    assert all(p.endswith(":read") for p in auditor)
    assert "personal_data:read" not in auditor
    assert auditor == {p for p in PERMISSIONS if p.endswith(":read")} - {"personal_data:read"}
    # Customers hold only self-service permissions; finance prepares but does not approve.
    for key in ("member", "user"):
        assert set(TEMPLATES_BY_KEY[key].permissions) <= SELF_SERVICE
    assert "payouts:approve" not in TEMPLATES_BY_KEY["finance_officer"].permissions
    # Only the owner and the administrator hand out roles tenant-wide.
    tenant_wide_assigners = {
        t.key
        for t in TEMPLATES
        if t.merchant_scope is not MerchantScope.REQUIRED
        and "roles:assign" in expand(t.permissions)
    }
    assert tenant_wide_assigners == {"owner", "administrator"}
    assert {t.key for t in TEMPLATES if t.merchant_scope is MerchantScope.REQUIRED} == {
        "merchant_owner",
        "merchant_staff",
    }
    assert set(PERMISSIONS) >= PRIVILEGED >= {"roles:manage", "users:manage"}


async def test_a_new_tenant_has_every_template_role(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        roles = {r.key: r for r in await Role.all()}
        assert set(roles) == REQUIRED_KEYS
        for key, role in roles.items():
            template = TEMPLATES_BY_KEY[key]
            assert (role.name, role.template, role.merchant_scope) == (
                template.name, True, template.merchant_scope,
            )  # fmt: skip
            assert await stored_permissions(role.id) == sorted(template.permissions)
        log = await AccessChange.all().values_list("action", "role_key", "actor", "reason")
    assert sorted(log) == sorted(
        ("role_created", key, "system:platform", "template") for key in REQUIRED_KEYS
    )


async def test_the_owner_holds_every_permission(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        owner = await make_user("olga@acme.example")
        await assign_role(owner.id, OWNER)
        access = await access_for_user(owner.id)
    assert access is not None
    assert access.grants.permissions == frozenset(PERMISSIONS)
    assert all(access.grants.merchants(p) is None for p in PERMISSIONS)


async def test_syncing_again_changes_nothing_and_repairs_drift(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        changes = await AccessChange.all().count()
        assert await sync_templates() == []
        assert await AccessChange.all().count() == changes

        auditor = await Role.get(key="auditor")
        await RolePermission.create(role=auditor, permission="users:manage")
        await RolePermission.filter(role=auditor, permission="audit:read").delete()
        await Role.filter(key="user").update(name="Customer")

        assert sorted(await sync_templates()) == ["auditor", "user"]
        assert await stored_permissions(auditor.id) == sorted(
            TEMPLATES_BY_KEY["auditor"].permissions
        )
        assert (await Role.get(key="user")).name == "User"
        [repair] = await AccessChange.filter(role_key="auditor").order_by("-id").limit(1)
    assert repair.detail == {"added": ["audit:read"], "removed": ["users:manage"]}
