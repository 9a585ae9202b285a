"""Reading a tenant's trail, and changing it out of band as someone with database access
would: raw SQL on a connection of its own, past the append-only triggers."""

from __future__ import annotations

import orjson

from alembic_like.targets import quote_literal
from schema.audit.models import AuditRecord
from schema.audit.service import chain_hash
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.tenants.helpers import RawSql

# What an intruder does first: PostgreSQL skips triggers for a superuser's session in
# replica mode; SQLite has no privileges, so anyone who can write the file drops them.
_BYPASS = {
    "postgres": ["SET LOCAL session_replication_role = replica"],
    "sqlite": [
        f"DROP TRIGGER IF EXISTS {table}_no_{event}"
        for table in ("audit_record", "audit_target")
        for event in ("update", "delete")
    ]
    + [
        "DROP TRIGGER IF EXISTS audit_chain_head_advance",
        "DROP TRIGGER IF EXISTS audit_record_appended",
    ],
}


async def tamper(tenancy: Tenancy, tenant: TenantRecord, *statements: str) -> None:
    bypass = _BYPASS[tenancy.config.dialect]
    await RawSql(tenancy, tenant.schema_name).execute(*bypass, *statements)


async def raw(tenancy: Tenancy, tenant: TenantRecord, *statements: str) -> None:
    """Statements as any client of the database sends them, triggers in force."""
    await RawSql(tenancy, tenant.schema_name).execute(*statements)


async def forge(tenancy: Tenancy, tenant: TenantRecord, sequence: int, summary: str) -> None:
    """Rewrite one record's summary and give it a hash that matches again (its
    successors, and the head, still hold the old one)."""
    [row] = await AuditRecord.filter(id=sequence).values()
    row["summary"] = summary
    await tamper(
        tenancy,
        tenant,
        f"UPDATE audit_record SET summary = {quote_literal(summary)}, "
        f"hash = {quote_literal(chain_hash(row))} WHERE id = {sequence}",
    )


async def trail() -> list[tuple[int, str, str, list[str]]]:
    """(sequence, operation, outcome, targets) of every record, oldest first."""
    rows = await AuditRecord.all().order_by("id")
    return [(r.id, r.operation, r.outcome, orjson.loads(r.targets)) for r in rows]
