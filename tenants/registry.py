"""Looking tenants up, with a per-process cache that every process invalidates by itself.

Every change to a tenant bumps ``registry_state.generation`` in the same transaction.
A process serves cached entries for at most ``ttl`` seconds before it reads the
generation again (one indexed read a second, not one per request); on a new generation
it drops its whole cache. Deletion waits until every process has seen the suspension
(see ``provisioning.delete_tenant``), so a deleted tenant is never served.
"""

from __future__ import annotations

import asyncio
import re
import time

from tortoise.expressions import F

from tenants.errors import TenantNotFound
from tenants.models import RegistryState, Tenant, TenantDomain
from tenants.records import TenantRecord

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")


def is_valid_slug(slug: str) -> bool:
    return bool(SLUG_RE.fullmatch(slug)) and "--" not in slug


async def load_record(row: Tenant) -> TenantRecord:
    domains = (
        await TenantDomain.filter(tenant_id=row.id)
        .order_by("domain")
        .values_list("domain", flat=True)
    )
    return TenantRecord.from_row(row, tuple(domains))


async def bump_generation() -> None:
    """Call inside the transaction of the change."""
    await RegistryState.filter(id=1).update(generation=F("generation") + 1)


class TenantRegistry:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._by_slug: dict[str, TenantRecord] = {}
        self._by_domain: dict[str, TenantRecord] = {}
        self._by_id: dict[str, TenantRecord] = {}
        self._generation: int | None = None
        self._checked_at = 0.0
        self._refresh_lock = asyncio.Lock()

    async def _revalidate(self) -> None:
        if time.monotonic() - self._checked_at < self.ttl:
            return
        async with self._refresh_lock:
            if time.monotonic() - self._checked_at < self.ttl:
                return
            generation = (
                await RegistryState.filter(id=1).first().values_list("generation", flat=True)
            )
            if generation != self._generation:
                self._clear()
                self._generation = generation
            self._checked_at = time.monotonic()

    def invalidate(self) -> None:
        """Forget everything now (this process just changed the registry)."""
        self._clear()
        self._checked_at = 0.0

    def _clear(self) -> None:
        self._by_slug.clear()
        self._by_domain.clear()
        self._by_id.clear()

    async def by_slug(self, slug: str) -> TenantRecord:
        if not is_valid_slug(slug):
            raise TenantNotFound(f"{slug[:80]!r} is not a tenant slug")
        await self._revalidate()
        record = self._by_slug.get(slug)
        if record is None:
            row = await Tenant.get_or_none(slug=slug)
            if row is None:
                raise TenantNotFound(f"no tenant {slug!r}")
            record = self._by_slug[slug] = await load_record(row)
        return record

    async def by_domain(self, domain: str) -> TenantRecord:
        await self._revalidate()
        record = self._by_domain.get(domain)
        if record is None:
            found = await TenantDomain.get_or_none(domain=domain).prefetch_related("tenant")
            if found is None:
                raise TenantNotFound(f"no tenant serves {domain[:253]!r}")
            record = self._by_domain[domain] = await load_record(found.tenant)
        return record

    async def by_id(self, tenant_id: str) -> TenantRecord:
        """How jobs and the relay find their tenant: cached like the request lookups,
        or every job would pay two registry queries before its own work."""
        await self._revalidate()
        record = self._by_id.get(tenant_id)
        if record is None:
            row = await Tenant.get_or_none(id=tenant_id)
            if row is None:
                raise TenantNotFound(f"no tenant with id {tenant_id[:40]!r}")
            record = self._by_id[tenant_id] = await load_record(row)
        return record

    async def all(self) -> list[TenantRecord]:
        rows = await Tenant.all().order_by("slug")
        domains: dict[str, list[str]] = {}
        for tenant_id, domain in (
            await TenantDomain.all().order_by("domain").values_list("tenant_id", "domain")
        ):
            domains.setdefault(tenant_id, []).append(domain)
        return [TenantRecord.from_row(row, tuple(domains.get(row.id, ()))) for row in rows]
