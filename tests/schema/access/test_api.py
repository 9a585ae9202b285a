"""The GraphQL face of roles and permissions, run by the real engine on the real schema:
``me``, the catalog, roles, assignments, access reviews; every mutation and query with and
without its permission (a refused mutation changes nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schema.access.catalog import PERMISSIONS, PRIVILEGED
from schema.access.models import (
    AccessChange,
    AccessReview,
    AccessReviewItem,
    Role,
    RoleAssignment,
    RolePermission,
)
from schema.access.reviews import open_review
from schema.access.service import RoleInput, assign, create_role, grants_for_scopes
from schema.access.templates import OWNER
from schema.core.nodes import to_global_id
from schema.core.principal import ANONYMOUS, Principal, PrincipalKind, system_principal
from schema.identity.models import User
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import make_user, principal_of
from tests.schema.graphql import codes, gql
from tests.schema.principals import user_with

SYSTEM = system_principal("test")


def user_id(user: User) -> str:
    return to_global_id("User", user.id)


@dataclass
class World:
    olga: User  # the owner
    ann: User  # holds nothing
    carl: User  # holds night_desk
    dora: User  # a dormant content editor
    owner: Principal
    dora_item: int  # her dormant_account item in the open review


@pytest.fixture
async def world(acme: TenantRecord) -> World:
    async with tenant_scope(acme):
        olga = await make_user("olga@acme.example", last_login_at=datetime.now(UTC))
        await assign(SYSTEM, olga.id, OWNER)
        ann = await make_user("ann@acme.example")
        carl = await make_user("carl@acme.example", last_login_at=datetime.now(UTC))
        long_ago = datetime.now(UTC) - timedelta(days=200)
        dora = await make_user("dora@acme.example", created_at=long_ago)
        await assign(SYSTEM, dora.id, "content_editor")
        await create_role(
            SYSTEM, "night_desk", RoleInput(name="Night desk", permissions=["support:read"])
        )
        await create_role(SYSTEM, "spare", RoleInput(name="Spare", permissions=["tasks:read"]))
        await assign(SYSTEM, carl.id, "night_desk")
        review = await open_review("2026-06-29")
        item = await AccessReviewItem.get(review=review, kind="dormant_account", user_id=dora.id)
        return World(olga, ann, carl, dora, await principal_of(olga), item.id)


async def snapshot() -> tuple[object, ...]:
    """Everything the access mutations may change."""
    return (
        await Role.all().order_by("id").values_list("key", "name", "description", "merchant_scope"),
        await RolePermission.all().order_by("id").values_list("role_id", "permission"),
        await RoleAssignment.all().order_by("id").values_list("user_id", "role_id", "merchant_id"),
        await AccessChange.all().count(),
        await AccessReviewItem.all().order_by("id").values_list("decision", "decided_by"),
        await AccessReview.all().order_by("id").values_list("status"),
    )


ERRORS = "errors { field message code }"
MUTATIONS: dict[str, tuple[str, str, str]] = {
    # name: (permission, input type, selection)
    "roleCreate": ("roles:manage", "RoleCreateInput", f"role {{ key }} {ERRORS}"),
    "roleUpdate": ("roles:manage", "RoleUpdateInput", f"role {{ key name }} {ERRORS}"),
    "roleDelete": ("roles:manage", "RoleDeleteInput", f"deletedKey {ERRORS}"),
    "roleAssign": ("roles:assign", "RoleAssignInput", f"assignment {{ roleKey }} {ERRORS}"),
    "roleUnassign": ("roles:assign", "RoleUnassignInput", f"unassigned {ERRORS}"),
    "accessReviewItemDecide": (
        "access_reviews:decide",
        "AccessReviewItemDecideInput",
        f"item {{ decision }} {ERRORS}",
    ),
}


def mutation_input(name: str, w: World) -> dict[str, Any]:
    return {
        "roleCreate": {"key": "night_shift", "name": "Night shift", "permissions": ["support:*"]},
        "roleUpdate": {"key": "night_desk", "name": "Nights", "reason": "renamed"},
        "roleDelete": {"key": "spare"},
        "roleAssign": {"userId": user_id(w.ann), "roleKey": "auditor"},
        "roleUnassign": {"userId": user_id(w.carl), "roleKey": "night_desk"},
        "accessReviewItemDecide": {
            "itemId": to_global_id("AccessReviewItem", w.dora_item),
            "decision": "REVOKE",
        },
    }[name]


async def run_mutation(
    tenant: TenantRecord, principal: Principal, name: str, data: dict[str, Any]
) -> dict[str, Any]:
    _, input_type, selection = MUTATIONS[name]
    query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} }} }}"
    return await gql(tenant, principal, query, input=data)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
async def test_every_mutation_needs_its_permission(
    acme: TenantRecord, world: World, name: str
) -> None:
    permission = MUTATIONS[name][0]
    data = mutation_input(name, world)
    async with tenant_scope(acme):
        before = await snapshot()
    everything_else = user_with(*(p for p in PERMISSIONS if p != permission), user_id=world.ann.id)

    for principal, code in ((ANONYMOUS, "UNAUTHENTICATED"), (everything_else, "FORBIDDEN")):
        refused = await run_mutation(acme, principal, name, data)
        assert (refused["data"], codes(refused)) == (None, [code])
        async with tenant_scope(acme):
            assert await snapshot() == before

    done = await run_mutation(acme, world.owner, name, data)
    assert "errors" not in done
    assert done["data"][name]["errors"] == []
    async with tenant_scope(acme):
        assert await snapshot() != before
        [change] = await AccessChange.all().order_by("-id").limit(1)
    assert change.actor == f"user:{world.olga.id}"


QUERIES: dict[str, tuple[str, str]] = {
    # name: (permission, query)
    "roles": ("roles:read", "{ roles { nodes { key } } }"),
    "role": ("roles:read", '{ role(key: "owner") { key permissions } }'),
    "roleAssignments": ("roles:read", "{ roleAssignments { nodes { roleKey } } }"),
    "accessReviews": ("access_reviews:read", "{ accessReviews { nodes { period } } }"),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
async def test_every_query_needs_its_permission(
    acme: TenantRecord, world: World, name: str
) -> None:
    permission, query = QUERIES[name]
    others = user_with(*(p for p in PERMISSIONS if p != permission))
    for principal, code in ((ANONYMOUS, "UNAUTHENTICATED"), (others, "FORBIDDEN")):
        refused = await gql(acme, principal, query)
        assert ((refused["data"] or {}).get(name), codes(refused)) == (None, [code])
    allowed = await gql(acme, user_with(permission), query)
    assert "errors" not in allowed
    assert allowed["data"][name]


async def test_nodes_check_their_read_permission(acme: TenantRecord, world: World) -> None:
    async with tenant_scope(acme):
        role = await Role.get(key="night_desk")
        assignment = await RoleAssignment.get(user_id=world.carl.id)
        review = await AccessReview.get(period="2026-06-29")
    query = "query($id: ID!) { node(id: $id) { id ... on Role { key } } }"
    cases = [
        (to_global_id("Role", role.id), "roles:read"),
        (to_global_id("RoleAssignment", assignment.id), "roles:read"),
        (to_global_id("AccessReview", review.id), "access_reviews:read"),
        (to_global_id("AccessReviewItem", world.dora_item), "access_reviews:read"),
    ]
    for global_id, permission in cases:
        refused = await gql(acme, user_with("users:read"), query, id=global_id)
        assert (refused["data"], codes(refused)) == ({"node": None}, ["FORBIDDEN"])
        found = await gql(acme, user_with(permission), query, id=global_id)
        assert found["data"]["node"]["id"] == global_id
    role_node = await gql(acme, user_with("roles:read"), query, id=cases[0][0])
    assert role_node["data"]["node"]["key"] == "night_desk"


# --- me ----------------------------------------------------------------------------------

ME = """{ me { kind clientId scopes
  user { id email fullName userType status emailVerified }
  tenant { slug name }
  roles { key name merchantId }
  permissions { permission merchantIds } } }"""


async def test_me_for_a_user(acme: TenantRecord, world: World) -> None:
    async with tenant_scope(acme):
        sam = await make_user("sam@acme.example", merchant_id=7)
        await assign(SYSTEM, sam.id, "merchant_staff", merchant_id=7)
        await assign(SYSTEM, sam.id, "member")
        principal = await principal_of(sam)
    token_scoped = Principal(
        PrincipalKind.USER,
        grants=principal.grants.within_scope(["orders:*", "member_content:read"]),
        user_id=sam.id,
        client_id="shop-app",
        scopes=frozenset({"openid", "orders:*", "member_content:read"}),
    )
    payload = await gql(acme, token_scoped, ME)
    assert payload["data"] == {
        "me": {
            "kind": "USER",
            "clientId": "shop-app",
            "scopes": ["member_content:read", "openid", "orders:*"],
            "user": {
                "id": user_id(sam),
                "email": "sam@acme.example",
                "fullName": "Sam",
                "userType": "TENANT_STAFF",
                "status": "ACTIVE",
                "emailVerified": False,
            },
            "tenant": {"slug": "acme", "name": "Acme Ltd"},
            "roles": [
                {"key": "member", "name": "Member", "merchantId": None},
                {"key": "merchant_staff", "name": "Merchant staff", "merchantId": 7},
            ],
            "permissions": [
                {"permission": "member_content:read", "merchantIds": None},
                {"permission": "orders:manage", "merchantIds": [7]},
                {"permission": "orders:place", "merchantIds": None},
                {"permission": "orders:read", "merchantIds": [7]},
            ],
        }
    }


async def test_me_for_a_client_and_for_nobody(acme: TenantRecord) -> None:
    client = Principal(
        PrincipalKind.CLIENT,
        grants=grants_for_scopes(["listings:read"], merchant_id=7),
        client_id="shop-7-server",
        scopes=frozenset({"listings:read"}),
        merchant_id=7,
    )
    payload = await gql(acme, client, ME)
    assert payload["data"]["me"] == {
        "kind": "CLIENT",
        "clientId": "shop-7-server",
        "scopes": ["listings:read"],
        "user": None,
        "tenant": {"slug": "acme", "name": "Acme Ltd"},
        "roles": [],
        "permissions": [{"permission": "listings:read", "merchantIds": [7]}],
    }
    anonymous = await gql(acme, ANONYMOUS, ME)
    assert (anonymous["data"], codes(anonymous)) == (None, ["UNAUTHENTICATED"])


async def test_the_catalog_is_public(acme: TenantRecord) -> None:
    payload = await gql(acme, ANONYMOUS, "{ permissions { name description privileged } }")
    assert payload["data"]["permissions"] == [
        {"name": name, "description": what, "privileged": name in PRIVILEGED}
        for name, what in sorted(PERMISSIONS.items())
    ]


# --- roles and assignments ---------------------------------------------------------------


async def test_refused_input_comes_back_typed(acme: TenantRecord, world: World) -> None:
    async with tenant_scope(acme):
        before = await snapshot()
    create = await run_mutation(
        acme, world.owner, "roleCreate",
        {"key": "owner", "name": "x" * 201, "permissions": ["orders:read", "orders:write"]},
    )  # fmt: skip
    assert create["data"]["roleCreate"] == {
        "role": None,
        "errors": [
            {"field": ["name"], "message": "name must be 1-200 characters", "code": "INVALID"},
            {
                "field": ["permissions", "1"],
                "message": "unknown permission 'orders:write'",
                "code": "UNKNOWN_PERMISSION",
            },
        ],
    }
    assign_ = await run_mutation(
        acme, world.owner, "roleAssign",
        {"userId": to_global_id("Role", 1), "roleKey": "auditor"},
    )  # fmt: skip
    assert assign_["data"]["roleAssign"]["errors"] == [
        {"field": ["userId"], "message": "not a User ID", "code": "INVALID"}
    ]
    decide = await run_mutation(
        acme, world.owner, "accessReviewItemDecide",
        {"itemId": to_global_id("AccessReviewItem", 999), "decision": "CONFIRM"},
    )  # fmt: skip
    assert [e["code"] for e in decide["data"]["accessReviewItemDecide"]["errors"]] == [
        "ITEM_NOT_FOUND"
    ]
    unassign = await run_mutation(
        acme, world.owner, "roleUnassign", {"userId": user_id(world.olga), "roleKey": OWNER}
    )
    assert [e["code"] for e in unassign["data"]["roleUnassign"]["errors"]] == ["LAST_OWNER"]
    async with tenant_scope(acme):
        assert await snapshot() == before


async def test_roles_and_a_merchant_owner_sees_only_their_merchant(
    acme: TenantRecord, world: World
) -> None:
    async with tenant_scope(acme):
        mo = await make_user("mo@shop.example", merchant_id=7)
        await assign(SYSTEM, mo.id, "merchant_owner", merchant_id=7)
        sam = await make_user("sam@shop.example", merchant_id=7)
        other = await make_user("otto@other.example", merchant_id=8)
        await assign(SYSTEM, other.id, "merchant_staff", merchant_id=8)
        merchant_owner = await principal_of(mo)

    done = await run_mutation(
        acme, merchant_owner, "roleAssign",
        {"userId": user_id(sam), "roleKey": "merchant_staff", "merchantId": 7, "reason": "hired"},
    )  # fmt: skip
    assert done["data"]["roleAssign"] == {
        "assignment": {"roleKey": "merchant_staff"},
        "errors": [],
    }
    listed = await gql(
        acme,
        merchant_owner,
        "{ roleAssignments { nodes { userId roleKey merchantId grantedBy reason } } }",
    )
    assert listed["data"]["roleAssignments"]["nodes"] == [
        {"userId": user_id(mo), "roleKey": "merchant_owner", "merchantId": 7,
         "grantedBy": "system:test", "reason": None},
        {"userId": user_id(sam), "roleKey": "merchant_staff", "merchantId": 7,
         "grantedBy": f"user:{mo.id}", "reason": "hired"},
    ]  # fmt: skip
    mine = await gql(
        acme, world.owner, "query($u: ID!) { roleAssignments(userId: $u) { nodes { roleKey } } }",
        u=user_id(other),
    )  # fmt: skip
    assert mine["data"]["roleAssignments"]["nodes"] == [{"roleKey": "merchant_staff"}]

    roles = await gql(
        acme, world.owner,
        "{ roles(template: false) { nodes { key name template merchantScope permissions "
        "grantedPermissions } } }",
    )  # fmt: skip
    assert roles["data"]["roles"]["nodes"] == [
        {"key": "night_desk", "name": "Night desk", "template": False,
         "merchantScope": "OPTIONAL", "permissions": ["support:read"],
         "grantedPermissions": ["support:read"]},
        {"key": "spare", "name": "Spare", "template": False, "merchantScope": "OPTIONAL",
         "permissions": ["tasks:read"], "grantedPermissions": ["tasks:read"]},
    ]  # fmt: skip
    owner = await gql(acme, world.owner, '{ role(key: "owner") { permissions template } }')
    assert owner["data"]["role"] == {"permissions": ["*"], "template": True}
    assert (await gql(acme, world.owner, '{ role(key: "nobody") { key } }'))["data"] == {
        "role": None
    }


async def test_reviews_through_graphql(acme: TenantRecord, world: World) -> None:
    async with tenant_scope(acme):
        review = await AccessReview.get(period="2026-06-29")
    review_id = to_global_id("AccessReview", review.id)
    query = """query($id: ID!) { accessReview(id: $id) { period status dormantDays
      items(kind: DORMANT_ACCOUNT) { nodes { id kind userId roles lastLoginAt decision } }
      decided: items(decided: true) { nodes { id } } } }"""
    reader = user_with("access_reviews:read")
    payload = await gql(acme, reader, query, id=review_id)
    item_id = to_global_id("AccessReviewItem", world.dora_item)
    assert payload["data"]["accessReview"] == {
        "period": "2026-06-29",
        "status": "OPEN",
        "dormantDays": 90,
        "items": {
            "nodes": [
                {"id": item_id, "kind": "DORMANT_ACCOUNT", "userId": user_id(world.dora),
                 "roles": ["content_editor"], "lastLoginAt": None, "decision": None},
            ]
        },
        "decided": {"nodes": []},
    }  # fmt: skip
    decided = await run_mutation(
        acme, world.owner, "accessReviewItemDecide",
        {"itemId": item_id, "decision": "CONFIRM", "reason": "on leave"},
    )  # fmt: skip
    assert decided["data"]["accessReviewItemDecide"] == {
        "item": {"decision": "CONFIRM"},
        "errors": [],
    }
    after = await gql(acme, reader, query, id=review_id)
    assert after["data"]["accessReview"]["decided"] == {"nodes": [{"id": item_id}]}
    listed = await gql(acme, reader, "{ accessReviews(status: OPEN) { nodes { period } } }")
    assert listed["data"]["accessReviews"]["nodes"] == [{"period": "2026-06-29"}]
    other = await gql(acme, reader, query, id=to_global_id("Role", review.id))
    assert other["data"] == {"accessReview": None}


@pytest.mark.parametrize("key", ["99999999999", "²", "0", "-1"])
async def test_ids_out_of_range_find_nothing(acme: TenantRecord, world: World, key: str) -> None:
    reader = user_with("roles:read", "access_reviews:read")
    for type_name in ("Role", "RoleAssignment", "AccessReview", "AccessReviewItem"):
        payload = await gql(
            acme,
            reader,
            "query($id: ID!) { node(id: $id) { id } }",
            id=to_global_id(type_name, key),
        )
        assert payload == {"data": {"node": None}, "extensions": payload["extensions"]}
    listed = await gql(
        acme, reader, "query($u: ID!) { roleAssignments(userId: $u) { nodes { id } } }",
        u=to_global_id("User", key),
    )  # fmt: skip
    assert listed["data"]["roleAssignments"]["nodes"] == []
    refused = await run_mutation(
        acme, world.owner, "roleAssign", {"userId": to_global_id("User", key), "roleKey": "auditor"}
    )
    assert refused["data"]["roleAssign"]["errors"] == [
        {"field": ["userId"], "message": "not a User ID", "code": "INVALID"}
    ]
