"""``tenant_scope()``: the only way to reach a tenant's data.

It binds Tortoise's ``tenant`` alias to the tenant's client with Tortoise's own contextvar
hook (``connections.set``, the mechanism ``in_transaction`` uses), so models, querysets,
transactions and child tasks created inside the scope need no ``using_db``. Outside a
scope the alias resolves to the guard engine, which refuses to connect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar, Token
from types import TracebackType

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import ConnectionHandler, ConnectionToken, get_connections

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
_Entered = tuple[
    AbstractAsyncContextManager[BaseDBAsyncClient],
    ConnectionHandler,
    ConnectionToken,
    Token[TenantRecord | None],
    Token[list[AfterExit] | None],
]


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


_SERVED = frozenset({TenantStatus.ACTIVE})
_SERVED_WHILE_PROVISIONING = frozenset({TenantStatus.ACTIVE, TenantStatus.PROVISIONING})


def check_routable(tenant: TenantRecord, *, provisioning: bool = False) -> None:
    """Serve a tenant only when it is active and its schema is at this code's head."""
    allowed = _SERVED_WHILE_PROVISIONING if provisioning else _SERVED
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


class TenantScope:
    """What ``tenant_scope()`` returns: one async context manager object, instead of an
    ``@asynccontextmanager`` generator nested around the lease's, because it is entered
    on every request and the generator machinery cost more than the work it wraps."""

    __slots__ = ("_callbacks", "_entered", "_provisioning", "_tenant")

    def __init__(self, tenant: TenantRecord, *, provisioning: bool = False) -> None:
        self._tenant = tenant
        self._provisioning = provisioning
        self._callbacks: list[AfterExit] = []
        # Set when this scope bound the tenant (not on a re-entry): what its exit undoes.
        self._entered: _Entered | None = None

    async def __aenter__(self) -> TenantRecord:
        tenant = self._tenant
        bound = _bound.get()
        if bound is not None:
            if bound.id != tenant.id:
                raise TenantScopeConflict(
                    f"cannot enter tenant {tenant.slug!r} inside tenant {bound.slug!r}"
                )
            return bound  # re-entering the same tenant keeps its client and any transaction
        check_routable(tenant, provisioning=self._provisioning)
        # Looked up once: the reset on exit must undo this very set.
        connections = get_connections()
        lease = get_tenancy().backend.lease(tenant.schema_name)
        client = await lease.__aenter__()
        self._entered = (
            lease,
            connections,
            connections.set(TENANT_ALIAS, client),
            _bound.set(tenant),
            _after_exit.set(self._callbacks),
        )
        return tenant

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if self._entered is None:
            return False  # a re-entry: the outer scope owns the client and the callbacks
        lease, connections, connection_token, tenant_token, exit_token = self._entered
        self._entered = None
        _after_exit.reset(exit_token)
        _bound.reset(tenant_token)
        connections.reset(connection_token)
        suppressed = bool(await lease.__aexit__(exc_type, exc, traceback))
        if exc_type is None or suppressed:
            # Outside every scope now, so each transaction has committed or rolled back.
            for callback in self._callbacks:
                await callback(self._tenant)
        return suppressed


def tenant_scope(tenant: TenantRecord, *, provisioning: bool = False) -> TenantScope:
    """Bind ``tenant`` for the block: fail closed (not routable: raises), refuse another
    tenant inside it, re-enter the same one as a no-op; ``after_scope_exit`` callbacks run
    once the outermost scope has exited cleanly."""
    return TenantScope(tenant, provisioning=provisioning)
