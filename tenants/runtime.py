"""The tenancy runtime of one process (one event loop): backend, registry, Tortoise.

Tortoise keeps its state in a ``TortoiseContext``; it is initialised once here with the
global fallback, so request handlers in other tasks find it. Only one runtime is active
per process at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext

from alembic_like import Track
from alembic_like.shared import TRACK as SHARED_TRACK
from alembic_like.tenant import TRACK as TENANT_TRACK
from tenants.backends import SHARED_ALIAS, TENANT_ALIAS, TenantBackend, make_backend
from tenants.config import TenancyConfig
from tenants.records import TenantRecord
from tenants.registry import TenantRegistry

ProvisionHook = Callable[[TenantRecord], Awaitable[None]]

_active: Tenancy | None = None


class Tenancy:
    def __init__(
        self,
        config: TenancyConfig,
        tenant_models: Sequence[str],
        *,
        provision_hooks: Sequence[ProvisionHook] = (),
        backend: TenantBackend | None = None,
        tenant_track: Track = TENANT_TRACK,
    ) -> None:
        self.config = config
        self.tenant_models = list(tenant_models)
        self.provision_hooks = list(provision_hooks)
        self.backend = backend or make_backend(config)
        self.tenant_track = tenant_track
        self.shared_track = SHARED_TRACK
        self.registry = TenantRegistry(config.registry_ttl)
        self._tortoise: TortoiseContext | None = None

    async def start(self) -> None:
        global _active
        if _active is not None:
            raise RuntimeError("a tenancy runtime is already active in this process")
        await self.backend.start()
        async with self.backend.registry_target() as target:
            await target.migrate(self.shared_track, self.shared_track.head)
        # Tortoise caches SQL per connection name, not per dialect: a process that
        # switches backends (the test suite) must not reuse the other dialect's SQL.
        EXECUTOR_CACHE.clear()
        self._tortoise = TortoiseContext()
        with self._tortoise:  # init needs it current; afterwards the global fallback serves
            await self._tortoise.init(
                config={
                    "connections": self.backend.tortoise_connections(),
                    "apps": {
                        "shared": {
                            "models": ["tenants.models"],
                            "default_connection": SHARED_ALIAS,
                        },
                        "tenant": {
                            "models": self.tenant_models,
                            "default_connection": TENANT_ALIAS,
                        },
                    },
                    "use_tz": True,
                    "timezone": "UTC",
                },
                _enable_global_fallback=True,
            )
        _active = self

    async def close(self) -> None:
        global _active
        if _active is self:
            _active = None
        if self._tortoise is not None:
            await self._tortoise.close_connections()
            self._tortoise = None
        await self.backend.close()

    async def __aenter__(self) -> Tenancy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def get_tenancy() -> Tenancy:
    if _active is None:
        raise RuntimeError("the tenancy runtime is not started")
    return _active
