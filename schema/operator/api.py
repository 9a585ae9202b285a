"""The operator's GraphQL schema: a schema of its own (``build_operator_schema``), served
only at ``/operator/graphql`` (``saas/operator.py``), never merged into a tenant's.

Every field needs an authenticated operator (``operator_only``): there is nothing public
here. All operators may do everything this schema offers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import strawberry
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig
from strawberry.utils.str_converters import to_camel_case

from schema.core.errors import DomainError, ErrorCode, PublicError
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


# --- payload errors -------------------------------------------------------------------------


def error_type(name: str, codes: type[Enum]) -> type:
    """``<Mutation>Error``: the shape every mutation's payload errors share, with the
    mutation's own code enum."""
    annotations = {"field": list[str] | None, "message": str, "code": codes}
    description = "Why the mutation refused; nothing was changed."
    return strawberry.type(
        type(name, (), {"__annotations__": annotations}), name=name, description=description
    )


def _payload_errors(
    exc: DomainError, error_cls: type, codes: type[Enum], fallback: Enum | None = None
) -> list[Any]:
    """The service's errors with GraphQL's names for the fields (``fullName``); a code
    the enum lacks (another domain's service may add codes) becomes ``fallback``."""
    known = {code.value for code in codes}
    return [
        error_cls(
            field=[to_camel_case(part) for part in e.field] or None,
            message=e.message,
            code=codes(e.code) if e.code in known or fallback is None else fallback,
        )
        for e in exc.errors
    ]


@strawberry.enum(description="Why tenantCreate refused.")
class TenantCreateErrorCode(Enum):
    SLUG_INVALID = "SLUG_INVALID"
    SLUG_RESERVED = "SLUG_RESERVED"
    SLUG_TAKEN = "SLUG_TAKEN"
    NAME_INVALID = "NAME_INVALID"
    TOO_MANY_DOMAINS = "TOO_MANY_DOMAINS"
    DOMAIN_INVALID = "DOMAIN_INVALID"
    DOMAIN_DUPLICATE = "DOMAIN_DUPLICATE"
    DOMAIN_TAKEN = "DOMAIN_TAKEN"


def _lifecycle_codes(verb: str) -> type[Enum]:
    """Suspend, resume and delete refuse for the same reasons."""
    codes = Enum(  # type: ignore[misc]
        f"Tenant{verb}ErrorCode",
        {code: code for code in ("NOT_FOUND", "WRONG_STATE", "REASON_REQUIRED", "REASON_TOO_LONG")},
    )
    return strawberry.enum(codes, description=f"Why tenant{verb} refused.")


TenantSuspendErrorCode = _lifecycle_codes("Suspend")
TenantResumeErrorCode = _lifecycle_codes("Resume")
TenantDeleteErrorCode = _lifecycle_codes("Delete")
TenantCreateError = error_type("TenantCreateError", TenantCreateErrorCode)
TenantSuspendError = error_type("TenantSuspendError", TenantSuspendErrorCode)
TenantResumeError = error_type("TenantResumeError", TenantResumeErrorCode)
TenantDeleteError = error_type("TenantDeleteError", TenantDeleteErrorCode)


@strawberry.type
class TenantCreatePayload:
    tenant: TenantType | None
    errors: list[TenantCreateError]  # type: ignore[valid-type]


@strawberry.type
class TenantSuspendPayload:
    tenant: TenantType | None
    errors: list[TenantSuspendError]  # type: ignore[valid-type]


@strawberry.type
class TenantResumePayload:
    tenant: TenantType | None
    errors: list[TenantResumeError]  # type: ignore[valid-type]


@strawberry.type
class TenantDeletePayload:
    deleted_tenant: TenantType | None = strawberry.field(
        description="The tenant as it was before it was deleted."
    )
    errors: list[TenantDeleteError]  # type: ignore[valid-type]


@strawberry.type(name="TenantOwner", description="A user of the tenant who holds its owner role.")
class TenantOwnerType:
    id: strawberry.ID = strawberry.field(description="The user's node id in the tenant's API.")
    email: str
    full_name: str

    @classmethod
    def from_model(cls, user: User) -> TenantOwnerType:
        return cls(id=to_global_id("User", user.id), email=user.email, full_name=user.full_name)


@strawberry.enum(description="Why tenantOwnerCreate refused.")
class TenantOwnerCreateErrorCode(Enum):
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"
    TENANT_NOT_ACTIVE = "TENANT_NOT_ACTIVE"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID = "INVALID"
    EMAIL_TAKEN = "EMAIL_TAKEN"


TenantOwnerCreateError = error_type("TenantOwnerCreateError", TenantOwnerCreateErrorCode)


@strawberry.type
class TenantOwnerCreatePayload:
    owner: TenantOwnerType | None
    errors: list[TenantOwnerCreateError]  # type: ignore[valid-type]


Payload = TypeVar("Payload")


async def _tenant_change(
    change: Awaitable[TenantRecord],
    make: Callable[[TenantType | None, list[Any]], Payload],
    error_cls: type,
    codes: type[Enum],
) -> Payload:
    try:
        record = await change
    except DomainError as exc:
        return make(None, _payload_errors(exc, error_cls, codes))
    return make(TenantType.from_record(record), [])


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
    ) -> TenantCreatePayload:
        actor = _operator(info).operator.actor
        return await _tenant_change(
            service.create_tenant(slug, name, domains or (), actor=actor),
            lambda tenant, errors: TenantCreatePayload(tenant=tenant, errors=errors),
            TenantCreateError,
            TenantCreateErrorCode,
        )

    @strawberry.mutation(
        permission_classes=[operator_only],
        description="Suspend an active tenant: its requests and jobs are refused.",
    )
    async def tenant_suspend(
        self, info: strawberry.Info, slug: str, reason: str
    ) -> TenantSuspendPayload:
        actor = _operator(info).operator.actor
        return await _tenant_change(
            service.suspend_tenant(slug, reason, actor=actor),
            lambda tenant, errors: TenantSuspendPayload(tenant=tenant, errors=errors),
            TenantSuspendError,
            TenantSuspendErrorCode,
        )

    @strawberry.mutation(
        permission_classes=[operator_only], description="Serve a suspended tenant again."
    )
    async def tenant_resume(
        self, info: strawberry.Info, slug: str, reason: str
    ) -> TenantResumePayload:
        actor = _operator(info).operator.actor
        return await _tenant_change(
            service.resume_tenant(slug, reason, actor=actor),
            lambda tenant, errors: TenantResumePayload(tenant=tenant, errors=errors),
            TenantResumeError,
            TenantResumeErrorCode,
        )

    @strawberry.mutation(
        permission_classes=[operator_only],
        description=(
            "Delete a suspended tenant and all its data. Waits until every process has "
            "seen the suspension (SAAS_REGISTRY_TTL) before removing anything."
        ),
    )
    async def tenant_delete(
        self, info: strawberry.Info, slug: str, reason: str
    ) -> TenantDeletePayload:
        actor = _operator(info).operator.actor
        return await _tenant_change(
            service.delete_tenant(slug, reason, actor=actor),
            lambda tenant, errors: TenantDeletePayload(deleted_tenant=tenant, errors=errors),
            TenantDeleteError,
            TenantDeleteErrorCode,
        )

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
    ) -> TenantOwnerCreatePayload:
        try:
            user = await service.create_owner(tenant_slug, email, full_name)
        except DomainError as exc:
            errors = _payload_errors(
                exc, TenantOwnerCreateError, TenantOwnerCreateErrorCode,
                TenantOwnerCreateErrorCode.INVALID,
            )  # fmt: skip
            return TenantOwnerCreatePayload(owner=None, errors=errors)
        return TenantOwnerCreatePayload(owner=TenantOwnerType.from_model(user), errors=[])


def build_operator_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=OperatorQuery,
        mutation=OperatorMutation,
        config=StrawberryConfig(auto_camel_case=True),
    )
