"""Errors of the tenancy layer.

Each carries a stable ``code`` so the GraphQL and HTTP edges can report it without
knowing the class hierarchy.
"""


class TenancyError(Exception):
    code = "TENANCY_ERROR"


class NoTenantSelected(TenancyError):
    """A tenant query ran outside ``tenant_scope()``: the guard engine refuses it."""

    code = "NO_TENANT_SELECTED"

    def __init__(self) -> None:
        super().__init__(
            "no tenant selected: tenant data can only be reached inside tenant_scope()"
        )


class TenantScopeConflict(TenancyError):
    """Entering tenant B while tenant A is bound in the same task."""

    code = "TENANT_SCOPE_CONFLICT"


class TenantNotFound(TenancyError):
    code = "TENANT_NOT_FOUND"


class TenantSuspended(TenancyError):
    code = "TENANT_SUSPENDED"


class TenantNotReady(TenancyError):
    """The tenant's schema is not at the revision this code needs (or is being set up)."""

    code = "TENANT_NOT_READY"


class InvalidTenantInput(TenancyError):
    code = "INVALID_INPUT"


class TenantStateError(TenancyError):
    """A lifecycle change not allowed from the tenant's current status."""

    code = "INVALID_TRANSITION"
