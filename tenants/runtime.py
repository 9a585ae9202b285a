"""The tenancy runtime of one event loop: backend, registry, Tortoise.

Tortoise keeps its state in a ``TortoiseContext``. The process's main runtime (the API's)
is initialised with Tortoise's global fallback, so request handlers in other tasks find
it. A second runtime on another event loop (the Dramatiq worker's loop in a combined API
and worker process) is not global: each task that uses it enters ``bind()``, because
aiosqlite and asyncpg clients belong to the loop that made them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, _current_context

from alembic_like import Track
from alembic_like.shared import TRACK as SHARED_TRACK
from alembic_like.tenant import TRACK as TENANT_TRACK
from tenants.backends import SHARED_ALIAS, TENANT_ALIAS, TenantBackend, make_backend
from tenants.config import TenancyConfig
from tenants.records import TenantRecord
from tenants.registry import TenantRegistry

ProvisionHook = Callable[[TenantRecord], Awaitable[None]]

_process_default: Tenancy | None = None
_bound: ContextVar[Tenancy | None] = ContextVar("saas_tenancy", default=None)


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

    async def start(self, *, process_default: bool = True) -> None:
        """Open the backend, bring the registry to head and initialise Tortoise.
        ``process_default=False`` makes a runtime that serves only inside ``bind()``."""
        global _process_default
        if process_default and _process_default is not None:
            raise RuntimeError("a tenancy runtime is already the process default")
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
                            "models": ["tenants.outbox", *self.tenant_models],
                            "default_connection": TENANT_ALIAS,
                        },
                    },
                    "use_tz": True,
                    "timezone": "UTC",
                },
                _enable_global_fallback=process_default,
            )
        if process_default:
            _process_default = self

    @contextmanager
    def bind(self) -> Iterator[Tenancy]:
        """Make this runtime (and its Tortoise context) current in this task and the
        tasks it creates. Sets Tortoise's context variable directly: entering the
        ``TortoiseContext`` keeps one token on the shared instance, which concurrent
        tasks would overwrite."""
        if self._tortoise is None:
            raise RuntimeError("the tenancy runtime is not started")
        tortoise_token = _current_context.set(self._tortoise)
        token = _bound.set(self)
        try:
            yield self
        finally:
            _bound.reset(token)
            _current_context.reset(tortoise_token)

    async def close(self) -> None:
        global _process_default
        if _process_default is self:
            _process_default = None
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
    tenancy = _bound.get() or _process_default
    if tenancy is None:
        raise RuntimeError("the tenancy runtime is not started")
    return tenancy
