"""The thread hop: authlib's synchronous core runs in a worker thread, and each storage
call it makes runs back on the event loop in the request's tenant scope."""

from __future__ import annotations

import asyncio
import threading

import anyio.to_thread

from saas.oauth.server import on_loop
from schema.settings.service import get_settings
from tenants.records import TenantRecord
from tenants.scope import current_tenant, tenant_scope
from tests.saas.oauth.conftest import World


async def seen_from_the_loop() -> tuple[str, str, bool]:
    """What a storage call sees: its tenant, that tenant's data, and that it is on the
    event loop's thread."""
    settings = await get_settings()
    return (
        current_tenant().slug,
        settings.name,
        threading.current_thread() is threading.main_thread(),
    )


def authlib_side() -> tuple[bool, tuple[str, str, bool]]:
    on_worker = threading.current_thread() is not threading.main_thread()
    return on_worker, on_loop(seen_from_the_loop)


async def hop(tenant: TenantRecord) -> tuple[bool, tuple[str, str, bool]]:
    async with tenant_scope(tenant):
        return await anyio.to_thread.run_sync(authlib_side)


async def test_storage_calls_from_the_worker_thread_see_the_requests_tenant(world: World) -> None:
    globex = await world.running.add_tenant("globex", "Globex Corporation")
    results = await asyncio.gather(*(hop(t) for t in [world.tenant, globex] * 5))
    assert set(results) == {
        (True, ("acme", "Acme Ltd", True)),
        (True, ("globex", "Globex Corporation", True)),
    }
    assert results[::2] == [(True, ("acme", "Acme Ltd", True))] * 5
