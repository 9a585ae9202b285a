"""Verification names the first break of a tampered chain; the triggers refuse changes."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from alembic_like.targets import quote_ident
from schema.audit.models import AuditRecord
from schema.audit.service import GENESIS, BreakKind, ChainBreak, ChainReport, record, verify_chain
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.schema.audit.helpers import forge, raw, tamper
from tests.tenants.helpers import RawSql

RECORDS = 7


async def seven_records(tenant: TenantRecord) -> list[str]:
    """Seven records in ``tenant``; their hashes."""
    async with tenant_scope(tenant):
        for n in range(1, RECORDS + 1):
            await record("orderCreate", targets=[f"Order:{n}"], summary={"n": n})
        return list(await AuditRecord.all().order_by("id").values_list("hash", flat=True))


async def verify(tenant: TenantRecord, batch_size: int = 3) -> ChainReport:
    async with tenant_scope(tenant):
        return await verify_chain(batch_size=batch_size)


async def test_an_empty_chain_and_an_untouched_one_verify(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    assert await verify(acme) == ChainReport(0, 0, GENESIS)
    hashes = await seven_records(acme)
    for batch_size in (1, 3, 7, 1000):  # batch edges fall everywhere
        report = await verify(acme, batch_size)
        assert report == ChainReport(RECORDS, RECORDS, hashes[-1])
        assert report.intact


async def test_a_deleted_record_is_a_gap(tenancy: Tenancy, acme: TenantRecord) -> None:
    hashes = await seven_records(acme)
    await tamper(tenancy, acme, "DELETE FROM audit_record WHERE id = 4")
    assert await verify(acme) == ChainReport(
        3,
        RECORDS,
        hashes[-1],
        ChainBreak(BreakKind.GAP, 4, "record 4 is missing (the next one is 5): it was deleted"),
    )


async def test_a_deleted_first_record_is_a_gap(tenancy: Tenancy, acme: TenantRecord) -> None:
    await seven_records(acme)
    await tamper(tenancy, acme, "DELETE FROM audit_record WHERE id = 1")
    problem = (await verify(acme)).problem
    assert problem is not None
    assert (problem.kind, problem.sequence) == (BreakKind.GAP, 1)


@pytest.mark.parametrize(
    "change",
    [
        "summary = '{\"n\":40}'",
        "outcome = 'FORBIDDEN'",
        "actor_subject = 'user:1'",
        "targets = '[]'",
    ],
)
async def test_an_edited_record_no_longer_matches_its_hash(
    tenancy: Tenancy, acme: TenantRecord, change: str
) -> None:
    hashes = await seven_records(acme)
    await tamper(tenancy, acme, f"UPDATE audit_record SET {change} WHERE id = 4")
    assert await verify(acme) == ChainReport(
        3,
        RECORDS,
        hashes[-1],
        ChainBreak(
            BreakKind.HASH_MISMATCH,
            4,
            "record 4 does not match its hash: it was changed after it was written",
        ),
    )


async def test_a_forged_record_with_a_new_hash_breaks_its_successor(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    await seven_records(acme)
    async with tenant_scope(acme):
        await forge(tenancy, acme, 4, '{"n":40}')
    report = await verify(acme)
    assert report.problem == ChainBreak(
        BreakKind.PREV_HASH_MISMATCH,
        5,
        "record 5 does not follow record 4: its prev_hash is not that record's hash "
        "(record 4 was rewritten, or this one forged)",
    )
    assert report.checked == 4  # record 4 itself is consistent


async def test_a_forged_last_record_no_longer_matches_the_head(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    await seven_records(acme)
    async with tenant_scope(acme):
        await forge(tenancy, acme, RECORDS, '{"n":70}')
    assert (await verify(acme)).problem == ChainBreak(
        BreakKind.HEAD_MISMATCH,
        RECORDS,
        f"record {RECORDS} is not the one the chain's head holds: it was rewritten",
    )


async def test_deleted_newest_records_are_a_truncated_tail(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    await seven_records(acme)
    await tamper(tenancy, acme, "DELETE FROM audit_record WHERE id >= 6")
    report = await verify(acme)
    assert report.checked == 5
    assert report.problem == ChainBreak(
        BreakKind.HEAD_MISMATCH,
        6,
        "the records end at 5 but the chain's head is at 7: the newest records were deleted",
    )


async def test_a_record_added_past_the_head_is_found(tenancy: Tenancy, acme: TenantRecord) -> None:
    hashes = await seven_records(acme)
    await tamper(
        tenancy,
        acme,
        "INSERT INTO audit_record SELECT 8, occurred_at, actor_subject, actor_kind, client_id, "
        "tenant_id, operation, targets, outcome, source_address, request_id, summary, hash, "
        "hash FROM audit_record WHERE id = 7",
    )
    assert await verify(acme) == ChainReport(
        RECORDS,
        RECORDS,
        hashes[-1],
        ChainBreak(
            BreakKind.HEAD_MISMATCH,
            8,
            "records up to 8 lie past the chain's head at 7: they were added without being chained",
        ),
    )


async def test_records_appended_while_verifying_are_not_a_break(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    """The walk stops at the head it read first; later records wait for the next run."""
    await seven_records(acme)

    async def append() -> None:
        for _ in range(5):
            await record("late")

    async with tenant_scope(acme):
        report, _ = await asyncio.gather(verify_chain(batch_size=1), append())
        final = await verify_chain()
    assert report.intact
    assert RECORDS <= report.head_sequence == report.checked <= RECORDS + 5
    assert final.intact
    assert final.checked == RECORDS + 5


# --- the triggers ---------------------------------------------------------------------


# RAISE(ABORT) in an SQLite trigger; the function's error code in PostgreSQL.
REFUSED = (sqlite3.IntegrityError, asyncpg.InsufficientPrivilegeError)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_record SET outcome = 'success' WHERE id = 2",
        "DELETE FROM audit_record WHERE id = 2",
        "DELETE FROM audit_record",
        "UPDATE audit_target SET target = 'Order:9' WHERE record_id = 2",
        "DELETE FROM audit_target",
        "DELETE FROM audit_chain_head",
        "UPDATE audit_chain_head SET last_sequence = 1, last_hash = 'x'",
        "UPDATE audit_chain_head SET last_sequence = last_sequence + 2",
    ],
)
async def test_the_triggers_refuse_changes(
    tenancy: Tenancy, acme: TenantRecord, statement: str
) -> None:
    hashes = await seven_records(acme)
    with pytest.raises(REFUSED, match="audit"):
        await raw(tenancy, acme, statement)
    assert await verify(acme) == ChainReport(RECORDS, RECORDS, hashes[-1])


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_postgres_refuses_truncate(tenancy: Tenancy, acme: TenantRecord) -> None:
    hashes = await seven_records(acme)
    for table in ("audit_record", "audit_target", "audit_chain_head"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await raw(tenancy, acme, f"TRUNCATE {table}")
    assert await verify(acme) == ChainReport(RECORDS, RECORDS, hashes[-1])


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_postgres_refuses_an_append_through_another_schema(
    tenancy: Tenancy, acme: TenantRecord
) -> None:
    """The insert trigger moves the head of the search_path's first schema: it refuses
    to run unless that is the record's own."""
    hashes = await seven_records(acme)
    table = f"{quote_ident(acme.schema_name)}.audit_record"
    with pytest.raises(asyncpg.RaiseError, match="their schema first in search_path"):
        await RawSql(tenancy).execute(  # the registry's search_path
            f"INSERT INTO {table} SELECT 8, occurred_at, actor_subject, actor_kind, client_id, "
            "tenant_id, operation, targets, outcome, source_address, request_id, summary, hash, "
            f"hash FROM {table} WHERE id = 7"
        )
    assert await verify(acme) == ChainReport(RECORDS, RECORDS, hashes[-1])
