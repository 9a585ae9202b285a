"""Principals for tests that exercise permission checks without going through OAuth."""

from __future__ import annotations

from schema.core.context import RequestContext
from schema.core.principal import Grants, Principal, PrincipalKind
from tenants.records import TenantRecord


def user_with(*permissions: str, user_id: int = 1, merchant_id: int | None = None) -> Principal:
    """A signed-in user holding ``permissions`` (for ``merchant_id`` only, when given)."""
    grants = Grants.merge((permission, merchant_id) for permission in permissions)
    return Principal(PrincipalKind.USER, grants=grants, user_id=user_id, scopes=frozenset({"*"}))


def context_for(tenant: TenantRecord, principal: Principal) -> RequestContext:
    return RequestContext(request_id="req", tenant=tenant, principal=principal)
