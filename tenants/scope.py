"""``tenant_scope()``: the only way to reach a tenant's data.

It binds Tortoise's ``tenant`` alias to the tenant's client with Tortoise's own contextvar
hook (``connections.set``, the mechanism ``in_transaction`` uses), so models, querysets,
transactions and child tasks created inside the scope need no ``using_db``. Outside a
scope the alias resolves to the guard engine, which refuses to connect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from tortoise.connection import get_connections

from tenants.backends import TENANT_ALIAS
from tenants.errors import (
    NoTenantSelected,
    TenantNotReady,
    TenantScopeConflict,
    TenantSuspended,
)
from tenants.models import TenantStatus
from tenants.records import TenantRecord
from tenants.runtime import get_tenancy

_bound: ContextVar[TenantRecord | None] = ContextVar("saas_tenant", default=None)
_after_exit: ContextVar[list[AfterExit] | None] = ContextVar("saas_after_exit", default=None)
AfterExit = Callable[[TenantRecord], Awaitable[None]]


def current_tenant() -> TenantRecord:
    tenant = _bound.get()
    if tenant is None:
        raise NoTenantSelected()
    return tenant


def current_tenant_or_none() -> TenantRecord | None:
    return _bound.get()


def after_scope_exit(callback: AfterExit) -> None:
    """Run ``callback`` once the outermost scope has exited, when every transaction in
    it has committed or rolled back: how work is signalled only after its commit."""
    callbacks = _after_exit.get()
    if callbacks is None:
        raise NoTenantSelected()
    if callback not in callbacks:
        callbacks.append(callback)


def check_routable(tenant: TenantRecord, *, provisioning: bool = False) -> None:
    """Serve a tenant only when it is active and its schema is at this code's head."""
    allowed = (
        {TenantStatus.ACTIVE, TenantStatus.PROVISIONING} if provisioning else {TenantStatus.ACTIVE}
    )
    if tenant.status == TenantStatus.SUSPENDED:
        raise TenantSuspended(f"tenant {tenant.slug!r} is suspended")
    if tenant.status not in allowed:
        raise TenantNotReady(f"tenant {tenant.slug!r} is {tenant.status.value}")
    head = get_tenancy().tenant_track.head
    if tenant.schema_version != head:
        raise TenantNotReady(
            f"tenant {tenant.slug!r} is at schema revision {tenant.schema_version!r}, "
            f"this release needs {head!r}: run `saas migrate upgrade`"
        )


@asynccontextmanager
async def tenant_scope(
    tenant: TenantRecord, *, provisioning: bool = False
) -> AsyncIterator[TenantRecord]:
    bound = _bound.get()
    if bound is not None:
        if bound.id != tenant.id:
            raise TenantScopeConflict(
                f"cannot enter tenant {tenant.slug!r} inside tenant {bound.slug!r}"
            )
        yield bound  # re-entering the same tenant keeps its client and any transaction
        return
    check_routable(tenant, provisioning=provisioning)
    callbacks: list[AfterExit] = []
    async with get_tenancy().backend.lease(tenant.schema_name) as client:
        connection_token = get_connections().set(TENANT_ALIAS, client)
        tenant_token = _bound.set(tenant)
        exit_token = _after_exit.set(callbacks)
        try:
            yield tenant
        finally:
            _after_exit.reset(exit_token)
            _bound.reset(tenant_token)
            get_connections().reset(connection_token)
    for callback in callbacks:
        await callback(tenant)
