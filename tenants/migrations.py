"""Migrating the fleet: every tenant's schema, in parallel, one failure isolated from the rest.

Each tenant migrates in its own transaction (see ``alembic_like.targets``); the version
it lands on is then copied into the registry, so "who is behind" stays one query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from tenants.backends import SHARED_ALIAS
from tenants.errors import TenantNotFound
from tenants.models import Tenant, TenantStatus
from tenants.registry import bump_generation
from tenants.runtime import get_tenancy

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class FleetReport:
    target: str | None
    migrated: dict[str, list[str]] = field(default_factory=dict)  # slug -> steps applied
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # slug -> error

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class TenantVersion:
    slug: str
    status: str
    version: str | None


async def behind_head_count() -> int:
    """The no-op check: how many tenants are not at head, in one registry query."""
    head = get_tenancy().tenant_track.head
    return await Tenant.filter(Q(schema_version__not=head) | Q(schema_version__isnull=True)).count()


async def fleet_status() -> list[TenantVersion]:
    rows = await Tenant.all().order_by("slug").values_list("slug", "status", "schema_version")
    return [TenantVersion(slug, str(status), version) for slug, status, version in rows]


async def _select(slugs: Sequence[str] | None) -> list[tuple[str, str, str]]:
    query = Tenant.exclude(status=TenantStatus.DELETING)
    if slugs:
        query = query.filter(slug__in=list(slugs))
    rows = await query.order_by("slug").values_list("id", "slug", "schema_name")
    if slugs:
        missing = sorted(set(slugs) - {slug for _, slug, _ in rows})
        if missing:
            raise TenantNotFound(f"no such tenants: {', '.join(missing)}")
    return rows


async def migrate_fleet(
    target: str | None = "head",
    *,
    slugs: Sequence[str] | None = None,
    parallel: int = 4,
    progress: Progress | None = None,
) -> FleetReport:
    tenancy = get_tenancy()
    track = tenancy.tenant_track
    resolved = track.resolve(target)
    report = FleetReport(target=resolved)
    rows = await _select(slugs)
    landed: list[tuple[str, str | None]] = []
    done = 0
    gate = asyncio.Semaphore(max(1, parallel))

    async def one(tenant_id: str, slug: str, schema_name: str) -> None:
        nonlocal done
        async with gate:
            try:
                async with tenancy.backend.tenant_target(schema_name) as where:
                    result = await where.migrate(track, resolved)
            except Exception as exc:  # isolate: one broken tenant must not stop the fleet
                report.failed[slug] = f"{type(exc).__name__}: {exc}"
            else:
                landed.append((tenant_id, result.after))
                if result.applied:
                    report.migrated[slug] = result.applied
                else:
                    report.unchanged.append(slug)
            done += 1
            if progress:
                progress(done, len(rows))

    await asyncio.gather(*(one(*row) for row in rows))
    await _record_versions(landed)
    tenancy.registry.invalidate()
    return report


async def _record_versions(landed: list[tuple[str, str | None]], batch: int = 200) -> None:
    """Copy the versions into the registry, a batch per transaction."""
    for start in range(0, len(landed), batch):
        by_version: dict[str | None, list[str]] = {}
        for tenant_id, version in landed[start : start + batch]:
            by_version.setdefault(version, []).append(tenant_id)
        async with in_transaction(SHARED_ALIAS):
            for version, ids in by_version.items():
                await Tenant.filter(id__in=ids).update(schema_version=version)
            await bump_generation()
