"""The isolation scenario: many concurrent tasks alternating tenants, then an audit that
reads every tenant's table without the routing layer.

It returns what went wrong instead of asserting, so one scenario serves two tests: the
real backends must produce no findings, the deliberately naive ones (``naive.py``) must
produce some. Tasks interleave on purpose (``asyncio.sleep`` between entering the scope,
writing and reading), write rows whose autoincrement ids overlap across tenants, and
reach the data four ways: plainly, inside ``in_transaction("tenant")``, in child tasks
gathered inside the scope, and in a task created inside the scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from schema.settings.models import SettingsChange, TenantSettings
from tenants.backends import TENANT_ALIAS
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import current_tenant, tenant_scope

TABLE = "settings_change"
FIELD = "isolation"


class Mismatch(AssertionError):
    """A task saw data that is not its tenant's."""


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # "task" (a task saw foreign data or failed), "misplaced", "missing", "count"
    tenant: str
    detail: str


@dataclass(slots=True)
class IsolationReport:
    findings: list[Finding] = field(default_factory=list)
    rows_audited: dict[str, int] = field(default_factory=dict)

    def kinds(self) -> set[str]:
        return {finding.kind for finding in self.findings}


def _check(ok: bool, detail: str) -> None:
    if not ok:
        raise Mismatch(detail)


async def _pause(n: int) -> None:
    """Yield to the other tasks: every other time long enough for I/O to complete."""
    await asyncio.sleep(0 if n % 2 else 0.001)


async def _write_and_read(tenant: TenantRecord, marker: str, n: int) -> None:
    _check(current_tenant().id == tenant.id, f"{marker}: bound to {current_tenant().slug}")
    await _pause(n)
    row = await SettingsChange.create(
        field=FIELD, new_value=marker, actor="isolation-suite", reason=tenant.slug
    )
    await _pause(n + 1)
    again = await SettingsChange.get_or_none(id=row.id)
    seen = again.new_value if again else None
    _check(seen == marker, f"{marker}: row {row.id} reads back as {seen!r}")
    foreign = await SettingsChange.exclude(reason=tenant.slug).values_list("new_value", flat=True)
    _check(not foreign, f"{marker}: sees other tenants' rows {sorted(foreign)[:3]}")
    name = (await TenantSettings.get(id=1)).name
    _check(name == tenant.display_name, f"{marker}: settings name is {name!r}")


Unit = Callable[[TenantRecord, str, int, list[str]], Awaitable[None]]


async def _plain(tenant: TenantRecord, marker: str, n: int, written: list[str]) -> None:
    written.append(marker)
    await _write_and_read(tenant, marker, n)


async def _in_transaction(tenant: TenantRecord, marker: str, n: int, written: list[str]) -> None:
    written.append(marker)
    async with in_transaction(TENANT_ALIAS):
        await _write_and_read(tenant, marker, n)
    await _pause(n)
    committed = await SettingsChange.filter(new_value=marker).count()
    _check(committed == 1, f"{marker}: {committed} committed rows")


async def _gathered(tenant: TenantRecord, marker: str, n: int, written: list[str]) -> None:
    markers = [f"{marker}.a", f"{marker}.b"]
    written.extend(markers)
    await asyncio.gather(*(_write_and_read(tenant, m, n + i) for i, m in enumerate(markers)))


async def _child_task(tenant: TenantRecord, marker: str, n: int, written: list[str]) -> None:
    written.append(marker)
    child = asyncio.create_task(_write_and_read(tenant, marker, n))
    await _pause(n)
    await child


UNITS: tuple[Unit, ...] = (_plain, _in_transaction, _gathered, _child_task)


async def _task(n: int, tenant: TenantRecord, written: list[str], findings: list[Finding]) -> None:
    marker = f"{tenant.slug}:{n}"
    try:
        async with tenant_scope(tenant):
            await _pause(n)
            await UNITS[n % len(UNITS)](tenant, marker, n, written)
    except Exception as exc:  # a finding, not a crash: the naive variants fail here too
        findings.append(Finding("task", tenant.slug, f"task {n}: {type(exc).__name__}: {exc}"))


async def audit(
    tenancy: Tenancy, tenant: TenantRecord, written: Sequence[str]
) -> tuple[int, list[Finding]]:
    """Read the tenant's table out of band: exactly its own rows, each written once."""
    rows = await tenancy.backend.raw_table(tenant.schema_name, TABLE)
    found: list[Finding] = []
    for row in rows:
        if row["reason"] != tenant.slug:
            found.append(Finding("misplaced", tenant.slug, f"row {row['id']}: {row['new_value']}"))
    markers = sorted(row["new_value"] for row in rows)
    for marker in sorted(set(written) - set(markers)):
        found.append(Finding("missing", tenant.slug, marker))
    if len(rows) != len(written):
        found.append(Finding("count", tenant.slug, f"{len(rows)} rows, {len(written)} written"))
    return len(rows), found


async def run_isolation_scenario(
    tenancy: Tenancy, tenants: Sequence[TenantRecord], *, tasks: int = 240
) -> IsolationReport:
    report = IsolationReport()
    written: dict[str, list[str]] = {tenant.slug: [] for tenant in tenants}
    picks = [tenants[n % len(tenants)] for n in range(tasks)]
    await asyncio.gather(
        *(_task(n, t, written[t.slug], report.findings) for n, t in enumerate(picks))
    )
    for tenant in tenants:
        count, found = await audit(tenancy, tenant, written[tenant.slug])
        report.rows_audited[tenant.slug] = count
        report.findings.extend(found)
    return report
