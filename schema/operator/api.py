"""The operator's GraphQL schema: a schema of its own (``build_operator_schema``), served
only at ``/operator/graphql`` (``saas/operator.py``), never merged into a tenant's.

Every field needs an authenticated operator (``operator_only``): there is nothing public
here. All operators may do everything this schema offers.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig

from schema.core.errors import ErrorCode, PublicError
from schema.core.mutations import Described, mutation_types
from schema.core.nodes import to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.identity.models import User
from schema.operator import service
from schema.operator.context import OperatorContext
from tenants.models import Tenant, TenantStatus
from tenants.records import TenantRecord

OPERATOR_SDL_PATH = Path(__file__).parent.parent / "operator.graphql"


class OperatorOnly(BasePermission):
    """The request carries a valid operator key (the endpoint checked it; this holds
    even if the schema were ever run by another endpoint)."""

    message = "operator"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        if not isinstance(info.context, OperatorContext):
            raise PublicError("send an operator API key", ErrorCode.UNAUTHENTICATED)
        return True


operator_only = OperatorOnly


def _operator(info: strawberry.Info) -> OperatorContext:
    context: OperatorContext = info.context
    return context


TenantStatusEnum = strawberry.enum(
    TenantStatus, name="TenantStatus", description="Where a tenant is in its lifecycle."
)


@strawberry.type(name="Tenant", description="A tenant as the registry has it.")
class TenantType:
    id: strawberry.ID = strawberry.field(description="The registry id (not a node id).")
    slug: str
    name: str
    status: TenantStatusEnum  # type: ignore[valid-type]
    status_reason: str | None
    domains: list[str]
    schema_version: str | None
    created_at: datetime
    suspended_at: datetime | None

    @classmethod
    def from_record(cls, record: TenantRecord) -> TenantType:
        return cls(
            id=strawberry.ID(record.id),
            slug=record.slug,
            name=record.display_name,
            status=record.status,
            status_reason=record.status_reason,
            domains=list(record.domains),
            schema_version=record.schema_version,
            created_at=record.created_at,
            suspended_at=record.suspended_at,
        )

    @classmethod
    def from_row(cls, row: Tenant) -> TenantType:
        """A row of ``service.tenants_query()``: its domains are prefetched."""
        domains = tuple(sorted(d.domain for d in row.domains))
        return cls.from_record(TenantRecord.from_row(row, domains))


@strawberry.type(name="TenantOwner", description="A user of the tenant who holds its owner role.")
class TenantOwnerType:
    id: strawberry.ID = strawberry.field(description="The user's node id in the tenant's API.")
    email: str
    full_name: str

    @classmethod
    def from_model(cls, user: User) -> TenantOwnerType:
        return cls(id=to_global_id("User", user.id), email=user.email, full_name=user.full_name)


# --- payloads ---------------------------------------------------------------------------------

# Suspend, resume and delete refuse for the same reasons.
_LIFECYCLE = ("NOT_FOUND", "WRONG_STATE", "REASON_REQUIRED", "REASON_TOO_LONG")
TENANT_CREATE = mutation_types(
    "tenantCreate",
    (
        "SLUG_INVALID", "SLUG_RESERVED", "SLUG_TAKEN", "NAME_INVALID",
        "TOO_MANY_DOMAINS", "DOMAIN_INVALID", "DOMAIN_DUPLICATE", "DOMAIN_TAKEN",
    ),
    tenant=TenantType,
)  # fmt: skip
TENANT_SUSPEND = mutation_types("tenantSuspend", _LIFECYCLE, tenant=TenantType)
TENANT_RESUME = mutation_types("tenantResume", _LIFECYCLE, tenant=TenantType)
TENANT_DELETE = mutation_types(
    "tenantDelete",
    _LIFECYCLE,
    deleted_tenant=Described(TenantType, "The tenant as it was before it was deleted."),
)
# What identity's create_user can refuse for an owner (no password, no merchant).
TENANT_OWNER_CREATE = mutation_types(
    "tenantOwnerCreate",
    ("TENANT_NOT_FOUND", "TENANT_NOT_ACTIVE", "REQUIRED", "TOO_LONG", "INVALID", "EMAIL_TAKEN"),
    owner=TenantOwnerType,
)


async def _tenant_result(record: TenantRecord) -> dict[str, Any]:
    return {"tenant": TenantType.from_record(record)}


async def _deleted_result(record: TenantRecord) -> dict[str, Any]:
    return {"deleted_tenant": TenantType.from_record(record)}


async def _owner_result(user: User) -> dict[str, Any]:
    return {"owner": TenantOwnerType.from_model(user)}


# --- the roots --------------------------------------------------------------------------------


@strawberry.type(name="Query")
class OperatorQuery:
    @strawberry.field(
        permission_classes=[operator_only], description="Tenants by slug, of one status if given."
    )
    async def tenants(
        self,
        status: TenantStatusEnum | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TenantType]:
        return await paginate(
            service.tenants_query(status),
            PageRequest(first=first, after=after, last=last, before=before),
            TenantType.from_row,
            text_key="slug",
        )

    @strawberry.field(permission_classes=[operator_only], description="One tenant, or null.")
    async def tenant(self, slug: str) -> TenantType | None:
        record = await service.find_tenant(slug)
        return None if record is None else TenantType.from_record(record)


@strawberry.type(name="Mutation")
class OperatorMutation:
    @strawberry.mutation(
        permission_classes=[operator_only],
        description="Create a tenant: its schema, its seeded data, then active (routable).",
    )
    async def tenant_create(
        self, info: strawberry.Info, slug: str, name: str, domains: list[str] | None = None
    ) -> TENANT_CREATE.payload:
        actor = _operator(info).operator.actor
        call = service.create_tenant(slug, name, domains or (), actor=actor)
        return await TENANT_CREATE.run(call, _tenant_result)

    @strawberry.mutation(
        permission_classes=[operator_only],
        description="Suspend an active tenant: its requests and jobs are refused.",
    )
    async def tenant_suspend(
        self, info: strawberry.Info, slug: str, reason: str
    ) -> TENANT_SUSPEND.payload:
        actor = _operator(info).operator.actor
        call = service.suspend_tenant(slug, reason, actor=actor)
        return await TENANT_SUSPEND.run(call, _tenant_result)

    @strawberry.mutation(
        permission_classes=[operator_only], description="Serve a suspended tenant again."
    )
    async def tenant_resume(
        self, info: strawberry.Info, slug: str, reason: str
    ) -> TENANT_RESUME.payload:
        actor = _operator(info).operator.actor
        call = service.resume_tenant(slug, reason, actor=actor)
        return await TENANT_RESUME.run(call, _tenant_result)

    @strawberry.mutation(
        permission_classes=[operator_only],
        description=(
            "Delete a suspended tenant and all its data. Waits until every process has "
            "seen the suspension (SAAS_REGISTRY_TTL) before removing anything."
        ),
    )
    async def tenant_delete(
        self, info: strawberry.Info, slug: str, reason: str
    ) -> TENANT_DELETE.payload:
        actor = _operator(info).operator.actor
        call = service.delete_tenant(slug, reason, actor=actor)
        return await TENANT_DELETE.run(call, _deleted_result)

    @strawberry.mutation(
        permission_classes=[operator_only],
        description=(
            "Create a user of the tenant holding its owner role; they are mailed a link to "
            "set their password. Meant for the first owner, but allowed whatever owners "
            "exist (say, when the only owner has left): it adds one, never replaces one."
        ),
    )
    async def tenant_owner_create(
        self, tenant_slug: str, email: str, full_name: str
    ) -> TENANT_OWNER_CREATE.payload:
        call = service.create_owner(tenant_slug, email, full_name)
        return await TENANT_OWNER_CREATE.run(call, _owner_result)


def build_operator_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=OperatorQuery,
        mutation=OperatorMutation,
        config=StrawberryConfig(auto_camel_case=True),
    )
