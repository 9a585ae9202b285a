"""Every root field declares who may call it: deny by default.

``public`` marks a field anyone of the tenant may call, signed in or not;
``authenticated`` a field any signed-in principal may call (``me``); and
``requires("resource:verb")`` a field that needs a permission. A test walks the schema
and fails the build when a root field has no declaration.

The permission checked is the principal's effective grant: the user's roles (or the
client's allowed scopes) narrowed by the token's scope (``schema.core.principal``).
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info
from tortoise.queryset import QuerySet

from schema.core.errors import ErrorCode, PublicError
from schema.core.principal import ANONYMOUS, Principal


def principal_of(context: Any) -> Principal:
    principal: Principal = getattr(context, "principal", ANONYMOUS)
    return principal


def ensure_authenticated(context: Any) -> Principal:
    principal = principal_of(context)
    if not principal.authenticated:
        raise PublicError("sign in first: send an access token", ErrorCode.UNAUTHENTICATED)
    return principal


def ensure_permission(context: Any, permission: str, merchant_id: int | None = None) -> Principal:
    """The principal, when it holds ``permission`` (for ``merchant_id``, when given).

    Anonymous callers get UNAUTHENTICATED, signed-in ones without the grant FORBIDDEN.
    """
    principal = ensure_authenticated(context)
    if not principal.grants.allows(permission, merchant_id):
        where = "" if merchant_id is None else " for this merchant"
        raise PublicError(f"this needs the {permission!r} permission{where}", ErrorCode.FORBIDDEN)
    return principal


def ensure_tenant_wide(context: Any, permission: str) -> Principal:
    """The principal, when it holds ``permission`` for the whole tenant: what configures
    the tenant (its standards, watch lists, agreements) is never in reach of a grant
    limited to some merchants."""
    principal = ensure_permission(context, permission)
    if principal.grants.merchants(permission) is not None:
        raise PublicError(
            f"this needs the {permission!r} permission for the whole tenant, "
            "not only for some merchants",
            ErrorCode.FORBIDDEN,
        )
    return principal


class Public(BasePermission):
    message = "public"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return True


class Authenticated(BasePermission):
    message = "authenticated"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ensure_authenticated(info.context)
        return True


class _Requires(BasePermission):
    permission: str = ""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ensure_permission(info.context, self.permission)
        return True


class _RequiresTenantWide(_Requires):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ensure_tenant_wide(info.context, self.permission)
        return True


def requires(permission: str) -> type[BasePermission]:
    return type(f"Requires[{permission}]", (_Requires,), {"permission": permission})


def requires_tenant_wide(permission: str) -> type[BasePermission]:
    """``requires`` for the whole tenant (``ensure_tenant_wide``)."""
    return type(
        f"RequiresTenantWide[{permission}]", (_RequiresTenantWide,), {"permission": permission}
    )


def declared_tenant_wide(permission_classes: list[type[BasePermission]]) -> bool:
    """Whether a field needs its permission for the whole tenant."""
    return any(issubclass(cls, _RequiresTenantWide) for cls in permission_classes)


def declared_permission(permission_classes: list[type[BasePermission]]) -> str | None:
    """What a field declares: ``public``, ``authenticated``, the permission, or None."""
    for cls in permission_classes:
        if issubclass(cls, Public):
            return "public"
        if issubclass(cls, Authenticated):
            return "authenticated"
        if issubclass(cls, _Requires):
            return cls.permission
    return None


public = Public
authenticated = Authenticated


def covers(principal: Principal, permission: str, merchant_id: int | None) -> bool:
    """Whether ``permission`` covers a record of ``merchant_id`` (None: the tenant's own).
    A grant limited to some merchants covers only their records, never the tenant's."""
    merchants = principal.grants.merchants(permission)
    return merchants is None or merchant_id in merchants


def limit_to_merchants(
    query: QuerySet[Any], principal: Principal, permission: str, field: str = "merchant_id"
) -> QuerySet[Any]:
    """``query`` narrowed to the records ``permission`` covers (``covers`` as a filter)."""
    merchants = principal.grants.merchants(permission)
    return query if merchants is None else query.filter(**{f"{field}__in": sorted(merchants)})
