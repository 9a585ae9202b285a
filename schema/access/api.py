"""GraphQL face of roles and permissions: ``me``, the permission catalog, roles and their
assignments, access reviews.

Roles are named by their ``key`` in arguments (keys never change); users and review items
by global ID; merchants by their integer id (as ``User.merchantId``), until the merchants
domain gives them nodes. ``me`` has one shape for every principal: ``kind`` says who is
asking, ``user`` is null for an OAuth client acting as itself (client credentials), and
``clientId`` is null for a user signed in without a token (never through HTTP).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry

from schema.access import reviews, service
from schema.access.catalog import PERMISSIONS, PRIVILEGED, expand
from schema.access.models import (
    AccessReview,
    AccessReviewItem,
    Decision,
    ItemKind,
    ReviewStatus,
    Role,
    RoleAssignment,
)
from schema.access.templates import MerchantScope
from schema.core.errors import fail
from schema.core.mutations import mutation_types
from schema.core.nodes import Node, from_global_id, register_node, row_id, row_id_of, to_global_id
from schema.core.pagination import Connection, Edge, PageRequest, paginate
from schema.core.permissions import (
    authenticated,
    ensure_permission,
    limit_to_merchants,
    public,
    requires,
)
from schema.core.principal import Principal, PrincipalKind
from schema.identity.api import UserNode
from schema.identity.models import User
from schema.settings.service import get_settings

strawberry.enum(MerchantScope, name="RoleMerchantScope", description="Whether an assignment "
                "of the role names a merchant.")  # fmt: skip
strawberry.enum(PrincipalKind, description="Who is asking.")
strawberry.enum(ReviewStatus, name="AccessReviewStatus")
strawberry.enum(ItemKind, name="AccessReviewItemKind")
strawberry.enum(Decision, name="AccessReviewDecision")


def user_gid(user_id: int | None) -> strawberry.ID | None:
    return None if user_id is None else to_global_id("User", user_id)


# --- the catalog -------------------------------------------------------------------------


@strawberry.type(name="Permission", description="A permission of the catalog.")
class PermissionType:
    name: str = strawberry.field(description="`resource:verb`.")
    description: str = strawberry.field(description="What it allows.")
    privileged: bool = strawberry.field(description="Listed by access reviews when held.")


# --- roles -------------------------------------------------------------------------------


@strawberry.type(name="Role", description="A named set of permissions.")
class RoleType(Node):
    key: str = strawberry.field(description="How arguments name the role; never changes.")
    name: str
    description: str
    template: bool = strawberry.field(
        description="A platform template: read-only, copy it into a role of your own."
    )
    merchant_scope: MerchantScope
    permissions: list[str] = strawberry.field(
        description="Permissions and patterns (`orders:*`, `*`) as the role lists them."
    )
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Every catalog permission the role grants, patterns expanded.")
    def granted_permissions(self) -> list[str]:
        return sorted(expand(self.permissions))

    @classmethod
    def from_model(cls, row: Role, permissions: Sequence[str] = ()) -> RoleType:
        return cls(
            id=to_global_id("Role", row.id),
            key=row.key,
            name=row.name,
            description=row.description,
            template=row.template,
            merchant_scope=row.merchant_scope,
            permissions=list(permissions),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


async def role_types(rows: Sequence[Role]) -> list[RoleType]:
    """Roles with their permissions, in one query for all of them."""
    stored = await service.stored_permissions_of([r.id for r in rows])
    return [RoleType.from_model(r, stored[r.id]) for r in rows]


@strawberry.type(name="RoleAssignment", description="A user holds a role.")
class RoleAssignmentType(Node):
    user_id: strawberry.ID
    role_key: str
    merchant_id: int | None = strawberry.field(
        description="The merchant the role is limited to; null: the whole tenant."
    )
    granted_by: str = strawberry.field(description="Who granted it: `user:12`, `system:cli`...")
    granted_at: datetime
    reason: str | None

    @classmethod
    def from_model(cls, row: RoleAssignment) -> RoleAssignmentType:
        return cls(
            id=to_global_id("RoleAssignment", row.id),
            user_id=strawberry.ID(user_gid(row.user_id) or ""),
            role_key=row.role.key,
            merchant_id=row.merchant_id,
            granted_by=row.granted_by,
            granted_at=row.granted_at,
            reason=row.reason,
        )


def visible_assignments(principal: Principal) -> Any:
    """Assignments a holder of ``roles:read`` sees: theirs are the merchants it holds it for."""
    return limit_to_merchants(RoleAssignment.all().select_related("role"), principal, "roles:read")


# --- access reviews ----------------------------------------------------------------------


@strawberry.type(name="AccessReviewItem", description="One finding of an access review.")
class AccessReviewItemType(Node):
    kind: ItemKind
    user_id: strawberry.ID | None
    role_key: str | None
    merchant_id: int | None
    last_login_at: datetime | None = strawberry.field(
        description="Dormant accounts: the last sign-in found (null: never)."
    )
    roles: list[str] | None = strawberry.field(description="Dormant accounts: the staff roles.")
    privileged_permissions: list[str] | None = strawberry.field(
        description="Privileged holders: the privileged permissions the role grants."
    )
    holders: int | None = strawberry.field(description="Unused roles: how many hold it.")
    decision: Decision | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None

    @classmethod
    def from_model(cls, row: AccessReviewItem) -> AccessReviewItemType:
        detail = row.detail or {}
        return cls(
            id=to_global_id("AccessReviewItem", row.id),
            kind=row.kind,
            user_id=user_gid(row.user_id),
            role_key=row.role_key,
            merchant_id=row.merchant_id,
            last_login_at=row.last_login_at,
            roles=detail.get("roles"),
            privileged_permissions=detail.get("privileged"),
            holders=detail.get("holders"),
            decision=row.decision,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            reason=row.reason,
        )


@strawberry.type(name="AccessReview", description="A periodic review of who holds what.")
class AccessReviewType(Node):
    pk: strawberry.Private[int]
    period: str
    status: ReviewStatus
    dormant_days: int = strawberry.field(description="No sign-in for this long: dormant.")
    unused_days: int = strawberry.field(description="No holder signed in for this long: unused.")
    opened_by: str
    opened_at: datetime
    closed_at: datetime | None

    @strawberry.field(description="The review's findings, in the order they were found.")
    async def items(
        self,
        decided: bool | None = None,
        kind: ItemKind | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AccessReviewItemType]:
        query = AccessReviewItem.filter(review_id=self.pk)
        if decided is not None:
            query = query.filter(decision__isnull=not decided)
        if kind is not None:
            query = query.filter(kind=kind)
        page = PageRequest(first=first, after=after, last=last, before=before)
        return await paginate(query, page, AccessReviewItemType.from_model)

    @classmethod
    def from_model(cls, row: AccessReview) -> AccessReviewType:
        return cls(
            id=to_global_id("AccessReview", row.id),
            pk=row.id,
            period=row.period,
            status=row.status,
            dormant_days=row.dormant_days,
            unused_days=row.unused_days,
            opened_by=row.opened_by,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
        )


# --- me ----------------------------------------------------------------------------------


@strawberry.type(description="The tenant the request is for.")
class MeTenant:
    slug: str
    name: str


@strawberry.type(description="A role the user holds.")
class HeldRole:
    key: str
    name: str
    merchant_id: int | None = strawberry.field(
        description="The merchant it is limited to; null: the whole tenant."
    )


@strawberry.type(description="A permission this request holds.")
class EffectivePermission:
    permission: str
    merchant_ids: list[int] | None = strawberry.field(
        description="The merchants it holds for; null: every merchant of the tenant."
    )


@strawberry.type(
    description="Who is asking and what they may do: for clients to hide what the caller "
    "cannot do. `permissions` are the effective ones: the roles (or a client's allowed "
    "scopes) narrowed by the token's scope."
)
class Me:
    kind: PrincipalKind
    user: UserNode | None = strawberry.field(
        description="The signed-in user; null for an OAuth client acting as itself."
    )
    client_id: str | None = strawberry.field(description="The OAuth client of the token.")
    tenant: MeTenant
    roles: list[HeldRole]
    permissions: list[EffectivePermission]
    scopes: list[str] = strawberry.field(description="The token's scopes.")


def effective_permissions(principal: Principal) -> list[EffectivePermission]:
    return [
        EffectivePermission(
            permission=permission,
            merchant_ids=None if merchants is None else sorted(merchants),
        )
        for permission, merchants in sorted(principal.grants.by_permission.items())
    ]


async def build_me(context: Any) -> Me:
    principal: Principal = context.principal
    user, roles = None, []
    if principal.kind is PrincipalKind.USER and principal.user_id is not None:
        row = await User.get_or_none(id=principal.user_id)
        if row is not None:
            user = UserNode.from_model(row)
            held = await service.roles_of(row.id)
            roles = [HeldRole(key=h.key, name=h.name, merchant_id=h.merchant_id) for h in held]
    settings = await get_settings()
    return Me(
        kind=principal.kind,
        user=user,
        client_id=principal.client_id,
        tenant=MeTenant(slug=context.tenant.slug, name=settings.name),
        roles=roles,
        permissions=effective_permissions(principal),
        scopes=sorted(principal.scopes),
    )


# --- node fetchers -----------------------------------------------------------------------


async def _fetch_role(key: str, context: Any) -> RoleType | None:
    ensure_permission(context, "roles:read")
    row = await Role.get_or_none(id=pk) if (pk := row_id(key)) else None
    return (await role_types([row]))[0] if row else None


async def _fetch_assignment(key: str, context: Any) -> RoleAssignmentType | None:
    principal = ensure_permission(context, "roles:read")
    pk = row_id(key)
    row = await visible_assignments(principal).get_or_none(id=pk) if pk else None
    return RoleAssignmentType.from_model(row) if row else None


async def _fetch_review(key: str, context: Any) -> AccessReviewType | None:
    ensure_permission(context, "access_reviews:read")
    row = await AccessReview.get_or_none(id=pk) if (pk := row_id(key)) else None
    return AccessReviewType.from_model(row) if row else None


async def _fetch_item(key: str, context: Any) -> AccessReviewItemType | None:
    ensure_permission(context, "access_reviews:read")
    row = await AccessReviewItem.get_or_none(id=pk) if (pk := row_id(key)) else None
    return AccessReviewItemType.from_model(row) if row else None


register_node("Role", _fetch_role)
register_node("RoleAssignment", _fetch_assignment)
register_node("AccessReview", _fetch_review)
register_node("AccessReviewItem", _fetch_item)


# --- queries -----------------------------------------------------------------------------


@strawberry.type
class AccessQuery:
    @strawberry.field(permission_classes=[authenticated], description="Who is asking.")
    async def me(self, info: strawberry.Info) -> Me:
        return await build_me(info.context)

    @strawberry.field(
        permission_classes=[public],
        description="Every permission of the platform and what it allows, by name.",
    )
    def permissions(self) -> list[PermissionType]:
        return [
            PermissionType(name=name, description=what, privileged=name in PRIVILEGED)
            for name, what in sorted(PERMISSIONS.items())
        ]

    @strawberry.field(
        permission_classes=[requires("roles:read")], description="The tenant's roles, by key."
    )
    async def roles(
        self,
        template: bool | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[RoleType]:
        query = Role.all() if template is None else Role.filter(template=template)
        page = PageRequest(first=first, after=after, last=last, before=before)
        rows: Connection[Role] = await paginate(query, page, lambda row: row)
        nodes = await role_types([edge.node for edge in rows.edges])
        edges = [Edge(cursor=e.cursor, node=n) for e, n in zip(rows.edges, nodes, strict=True)]
        return Connection(edges=edges, page_info=rows.page_info)

    @strawberry.field(permission_classes=[requires("roles:read")], description="A role by key.")
    async def role(self, key: str) -> RoleType | None:
        row = await Role.get_or_none(key=key)
        return (await role_types([row]))[0] if row else None

    @strawberry.field(
        permission_classes=[requires("roles:read")],
        description="Who holds which role; holders of `roles:read` for some merchants see "
        "only those merchants' assignments.",
    )
    async def role_assignments(
        self,
        info: strawberry.Info,
        user_id: strawberry.ID | None = None,
        role_key: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[RoleAssignmentType]:
        query = visible_assignments(info.context.principal)
        if user_id is not None:
            query = query.filter(user_id=_global_key(user_id, "User"))
        if role_key is not None:
            query = query.filter(role__key=role_key)
        page = PageRequest(first=first, after=after, last=last, before=before)
        return await paginate(query, page, RoleAssignmentType.from_model)

    @strawberry.field(
        permission_classes=[requires("access_reviews:read")],
        description="Access reviews, newest first.",
    )
    async def access_reviews(
        self,
        status: ReviewStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AccessReviewType]:
        query = AccessReview.all() if status is None else AccessReview.filter(status=status)
        page = PageRequest(first=first, after=after, last=last, before=before)
        return await paginate(query, page, AccessReviewType.from_model, newest_first=True)

    @strawberry.field(
        permission_classes=[requires("access_reviews:read")],
        description="An access review by ID.",
    )
    async def access_review(
        self, id: strawberry.ID, info: strawberry.Info
    ) -> AccessReviewType | None:
        type_name, key = from_global_id(id)
        return await _fetch_review(key, info.context) if type_name == "AccessReview" else None


def _global_key(global_id: str, type_name: str) -> int:
    """For filters: an ID of another type, or out of range, matches nothing."""
    return row_id_of(global_id, type_name) or 0


# --- mutations ---------------------------------------------------------------------------


@strawberry.input
class RoleCreateInput:
    key: str = strawberry.field(description="2-50 characters of a-z, 0-9 and _; never changes.")
    name: str
    description: str = ""
    permissions: list[str] = strawberry.field(
        description="Catalog permissions and patterns (`orders:*`); you must hold them all."
    )
    merchant_scope: MerchantScope = MerchantScope.OPTIONAL
    reason: str | None = None


@strawberry.input
class RoleUpdateInput:
    key: str
    name: str | None = None
    description: str | None = None
    permissions: list[str] | None = strawberry.field(
        default=None, description="The new list, replacing the old one."
    )
    merchant_scope: MerchantScope | None = None
    reason: str | None = None


@strawberry.input
class RoleDeleteInput:
    key: str
    reason: str | None = None


@strawberry.input
class RoleAssignInput:
    user_id: strawberry.ID
    role_key: str
    merchant_id: int | None = strawberry.field(
        default=None, description="The merchant the role is (to be) limited to; null: none."
    )
    reason: str | None = None


@strawberry.input
class RoleUnassignInput(RoleAssignInput):
    pass


@strawberry.input
class AccessReviewItemDecideInput:
    item_id: strawberry.ID
    decision: Decision
    reason: str | None = None


_ROLE_INPUT = ("INVALID", "UNKNOWN_PERMISSION", "PERMISSION_NOT_HELD")
_ROLE_NAMED = ("INVALID", "PERMISSION_NOT_HELD", "ROLE_NOT_FOUND")  # by key, by whom
ROLE_CREATE = mutation_types("roleCreate", (*_ROLE_INPUT, "KEY_TAKEN"), role=RoleType)
ROLE_UPDATE = mutation_types(
    "roleUpdate",
    (*_ROLE_INPUT, "ROLE_NOT_FOUND", "TEMPLATE_READ_ONLY", "SCOPE_CONFLICT", "NOTHING_TO_CHANGE"),
    role=RoleType,
)
ROLE_DELETE = mutation_types(
    "roleDelete", (*_ROLE_NAMED, "TEMPLATE_READ_ONLY", "ROLE_IN_USE"), deleted_key=str
)
ROLE_ASSIGN = mutation_types(
    "roleAssign",
    (
        *_ROLE_NAMED, "USER_NOT_FOUND", "USER_INACTIVE", "MERCHANT_REQUIRED",
        "MERCHANT_NOT_ALLOWED", "MERCHANT_MISMATCH", "ALREADY_ASSIGNED",
    ),
    assignment=RoleAssignmentType,
)  # fmt: skip
ROLE_UNASSIGN = mutation_types(
    "roleUnassign", (*_ROLE_NAMED, "ASSIGNMENT_NOT_FOUND", "LAST_OWNER"), unassigned=bool
)
ACCESS_REVIEW_ITEM_DECIDE = mutation_types(
    "accessReviewItemDecide",
    ("INVALID", "ITEM_NOT_FOUND", "ALREADY_DECIDED", "SELF_REVIEW", "LAST_OWNER"),
    item=AccessReviewItemType,
)


def _role_input(data: RoleCreateInput | RoleUpdateInput) -> service.RoleInput:
    return service.RoleInput(
        name=data.name,
        description=data.description,
        permissions=data.permissions,
        merchant_scope=data.merchant_scope,
    )


def _decoded(global_id: str, type_name: str, field: str) -> int:
    """The row id of a global ID of ``type_name``; a payload error (INVALID) otherwise."""
    found = row_id_of(global_id, type_name)
    if found is None:
        raise fail(field, "INVALID", f"not a {type_name} ID")
    return found


async def _role_result(row: Role) -> dict[str, Any]:
    return {"role": (await role_types([row]))[0]}


async def _assignment_result(row: RoleAssignment) -> dict[str, Any]:
    await row.fetch_related("role")
    return {"assignment": RoleAssignmentType.from_model(row)}


async def _unassigned_result(_: None) -> dict[str, Any]:
    return {"unassigned": True}


async def _item_result(row: AccessReviewItem) -> dict[str, Any]:
    return {"item": AccessReviewItemType.from_model(row)}


@strawberry.type
class AccessMutation:
    @strawberry.mutation(
        permission_classes=[requires("roles:manage")],
        description="Create a role of the tenant's own.",
    )
    async def role_create(
        self, input: RoleCreateInput, info: strawberry.Info
    ) -> ROLE_CREATE.payload:
        actor = info.context.principal
        call = service.create_role(actor, input.key, _role_input(input), reason=input.reason)
        return await ROLE_CREATE.run(call, _role_result)

    @strawberry.mutation(
        permission_classes=[requires("roles:manage")],
        description="Change a role of the tenant's own (templates are read-only).",
    )
    async def role_update(
        self, input: RoleUpdateInput, info: strawberry.Info
    ) -> ROLE_UPDATE.payload:
        actor = info.context.principal
        call = service.update_role(actor, input.key, _role_input(input), reason=input.reason)
        return await ROLE_UPDATE.run(call, _role_result)

    @strawberry.mutation(
        permission_classes=[requires("roles:manage")],
        description="Delete a role of the tenant's own that nobody holds.",
    )
    async def role_delete(
        self, input: RoleDeleteInput, info: strawberry.Info
    ) -> ROLE_DELETE.payload:
        async def deleted(_: None) -> dict[str, Any]:
            return {"deleted_key": input.key}

        call = service.delete_role(info.context.principal, input.key, reason=input.reason)
        return await ROLE_DELETE.run(call, deleted)

    @strawberry.mutation(
        permission_classes=[requires("roles:assign")],
        description="Give a user a role, for the whole tenant or one merchant. You must hold "
        "everything the role grants, where it will hold.",
    )
    async def role_assign(
        self, input: RoleAssignInput, info: strawberry.Info
    ) -> ROLE_ASSIGN.payload:
        async def assign() -> RoleAssignment:
            return await service.assign(
                info.context.principal, _decoded(input.user_id, "User", "userId"),
                input.role_key, merchant_id=input.merchant_id, reason=input.reason,
            )  # fmt: skip

        return await ROLE_ASSIGN.run(assign(), _assignment_result)

    @strawberry.mutation(
        permission_classes=[requires("roles:assign")],
        description="Take a role away. The tenant's last owner keeps theirs.",
    )
    async def role_unassign(
        self, input: RoleUnassignInput, info: strawberry.Info
    ) -> ROLE_UNASSIGN.payload:
        async def unassign() -> None:
            await service.unassign(
                info.context.principal, _decoded(input.user_id, "User", "userId"),
                input.role_key, merchant_id=input.merchant_id, reason=input.reason,
            )  # fmt: skip

        return await ROLE_UNASSIGN.run(unassign(), _unassigned_result)

    @strawberry.mutation(
        permission_classes=[requires("access_reviews:decide")],
        description="Confirm or revoke an access review item. Revoking takes the access away "
        "(see the README); nobody decides about their own account.",
    )
    async def access_review_item_decide(
        self, input: AccessReviewItemDecideInput, info: strawberry.Info
    ) -> ACCESS_REVIEW_ITEM_DECIDE.payload:
        async def decide() -> AccessReviewItem:
            item_id = _decoded(input.item_id, "AccessReviewItem", "itemId")
            return await reviews.decide_item(
                info.context.principal, item_id, input.decision, reason=input.reason
            )

        return await ACCESS_REVIEW_ITEM_DECIDE.run(decide(), _item_result)


QUERIES: list[type] = [AccessQuery]
MUTATIONS: list[type] = [AccessMutation]
TYPES: list[type] = [RoleType, RoleAssignmentType, AccessReviewType, AccessReviewItemType]
