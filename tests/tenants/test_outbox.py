"""The outbox (``tenants/outbox.py``): a job is a row written in the caller's own
transaction, so it exists exactly when the change that needs it committed; a dedupe key
makes asking twice harmless, even at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from tortoise.transactions import in_transaction

from schema.settings.models import SettingsChange
from tenants.backends import TENANT_ALIAS
from tenants.errors import NoTenantSelected
from tenants.models import OutboxHint, PlatformJob
from tenants.outbox import JobOutbox, enqueue, enqueue_platform, set_outbox_listener
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.tenants.helpers import create_tenants
from tests.workers.harness import wait_for_lock_waiter

TIMEOUT = 10.0


class Rollback(Exception):
    pass


@pytest.fixture
async def tenants(tenancy: Tenancy) -> list[TenantRecord]:
    return await create_tenants(("acme", "globex"))


@pytest.fixture
def pokes() -> Iterator[list[str]]:
    """Tenants the outbox told the (in-process) relay about, in order."""
    seen: list[str] = []
    set_outbox_listener(lambda tenant: seen.append(tenant.slug))
    yield seen
    set_outbox_listener(None)


async def outbox(tenancy: Tenancy, tenant: TenantRecord) -> list[dict[str, Any]]:
    return await tenancy.backend.raw_table(tenant.schema_name, "job_outbox")


async def changes(tenancy: Tenancy, tenant: TenantRecord) -> list[str]:
    rows = await tenancy.backend.raw_table(tenant.schema_name, "settings_change")
    return sorted(row["new_value"] for row in rows)


async def change_and_enqueue(marker: str, **options: Any) -> JobOutbox | None:
    """What a domain service does: its change and its job, one transaction."""
    async with in_transaction(TENANT_ALIAS):
        await SettingsChange.create(field="name", new_value=marker, actor="test")
        return await enqueue("reviews.start", {"marker": marker}, **options)


async def test_a_job_commits_with_the_callers_change(
    tenancy: Tenancy, tenants: list[TenantRecord], pokes: list[str]
) -> None:
    acme = tenants[0]
    before = datetime.now(UTC)
    async with tenant_scope(acme):
        job = await change_and_enqueue("renamed", queue="critical")
        # Told to the relays only once the scope ended, its transactions finished.
        assert pokes == []
        assert not await OutboxHint.exists(tenant_id=acme.id)
    assert job is not None
    assert pokes == ["acme"]
    assert await OutboxHint.exists(tenant_id=acme.id)
    [row] = await outbox(tenancy, acme)
    assert row["id"] == job.id
    assert (row["actor"], row["queue"], row["status"]) == ("reviews.start", "critical", "pending")
    assert orjson.loads(row["args"]) == {"marker": "renamed"}
    assert (row["attempts"], row["sent_at"], row["dedupe_key"]) == (0, None, None)
    assert job.not_before >= before
    assert await changes(tenancy, acme) == ["renamed"]
    assert await outbox(tenancy, tenants[1]) == []


async def test_a_job_rolls_back_with_the_callers_change(
    tenancy: Tenancy, tenants: list[TenantRecord], pokes: list[str]
) -> None:
    acme = tenants[0]

    async def service() -> None:
        async with tenant_scope(acme), in_transaction(TENANT_ALIAS):
            await SettingsChange.create(field="name", new_value="never", actor="test")
            assert await enqueue("reviews.start", {"marker": "never"}) is not None
            raise Rollback

    with pytest.raises(Rollback):
        await service()
    assert await outbox(tenancy, acme) == []
    assert await changes(tenancy, acme) == []
    assert pokes == []
    assert not await OutboxHint.exists(tenant_id=acme.id)


async def test_a_delayed_job_is_due_later(tenancy: Tenancy, tenants: list[TenantRecord]) -> None:
    async with tenant_scope(tenants[0]):
        job = await enqueue("reviews.start", delay=timedelta(hours=1))
    assert job is not None
    assert job.not_before - datetime.now(UTC) > timedelta(minutes=59)


async def test_a_dedupe_key_makes_the_second_enqueue_a_no_op(
    tenancy: Tenancy, tenants: list[TenantRecord]
) -> None:
    acme, globex = tenants
    async with tenant_scope(acme):
        first = await enqueue("reports.daily", dedupe_key="daily@2024-01-01")
        second = await enqueue("reports.daily", {"other": 1}, dedupe_key="daily@2024-01-01")
        third = await enqueue("reports.daily", dedupe_key="daily@2024-01-02")
    async with tenant_scope(globex):  # keys are per tenant
        elsewhere = await enqueue("reports.daily", dedupe_key="daily@2024-01-01")
    assert first is not None
    assert second is None
    assert third is not None
    assert elsewhere is not None
    rows = await outbox(tenancy, acme)
    assert sorted(row["dedupe_key"] for row in rows) == ["daily@2024-01-01", "daily@2024-01-02"]
    assert [orjson.loads(row["args"]) for row in rows] == [{}, {}]


async def test_concurrent_enqueues_with_one_dedupe_key_make_one_job(
    tenancy: Tenancy, tenants: list[TenantRecord]
) -> None:
    acme = tenants[0]

    async def ask(i: int) -> JobOutbox | None:
        async with tenant_scope(acme):
            job = await change_and_enqueue(f"asker-{i}", dedupe_key="once")
        return job

    results = await asyncio.wait_for(asyncio.gather(*(ask(i) for i in range(8))), TIMEOUT)
    assert sum(result is not None for result in results) == 1
    assert len(await outbox(tenancy, acme)) == 1
    # Every caller's own change committed: losing the race did not fail its transaction.
    assert await changes(tenancy, acme) == sorted(f"asker-{i}" for i in range(8))


async def test_losing_a_dedupe_race_inside_a_transaction_keeps_the_transaction(
    tenancy: Tenancy, tenants: list[TenantRecord]
) -> None:
    """Caller Y checks the key while X's row is not yet committed, so Y's insert hits
    the unique key. On PostgreSQL that error would abort Y's whole transaction: the
    outbox inserts in a savepoint, and Y's transaction goes on and commits. (SQLite
    serialises the two writers, so Y simply sees X's row.)"""
    acme = tenants[0]
    x_inserted, x_commit = asyncio.Event(), asyncio.Event()

    async def x() -> JobOutbox | None:
        async with tenant_scope(acme), in_transaction(TENANT_ALIAS):
            job = await enqueue("reports.daily", dedupe_key="race")
            x_inserted.set()
            await x_commit.wait()
        return job

    async def y() -> JobOutbox | None:
        await x_inserted.wait()
        async with tenant_scope(acme), in_transaction(TENANT_ALIAS):
            await SettingsChange.create(field="name", new_value="y-before", actor="test")
            job = await enqueue("reports.daily", dedupe_key="race")
            await SettingsChange.create(field="name", new_value="y-after", actor="test")
        return job

    tasks = asyncio.gather(x(), y())
    await x_inserted.wait()
    if tenancy.config.dialect == "postgres":
        await wait_for_lock_waiter(tenancy, "job_outbox")  # Y's insert waits for X's key
    x_commit.set()
    x_job, y_job = await asyncio.wait_for(tasks, TIMEOUT)
    assert x_job is not None
    assert y_job is None
    assert [row["id"] for row in await outbox(tenancy, acme)] == [x_job.id]
    assert await changes(tenancy, acme) == ["y-after", "y-before"]


async def test_enqueue_outside_a_tenant_scope_is_refused(
    tenancy: Tenancy, tenants: list[TenantRecord]
) -> None:
    with pytest.raises(NoTenantSelected):
        await enqueue("reviews.start")
    with pytest.raises(NoTenantSelected):
        await enqueue("reviews.start", dedupe_key="k")
    for tenant in tenants:
        assert await outbox(tenancy, tenant) == []


@pytest.mark.parametrize(
    ("actor", "queue", "message"),
    [
        ("reviews.start", "urgent", "unknown queue 'urgent'"),
        ("", "default", "actor name must be 1-100 characters"),
        ("x" * 101, "default", "actor name must be 1-100 characters"),
    ],
)
async def test_an_unknown_queue_or_bad_actor_name_is_refused(
    tenancy: Tenancy, tenants: list[TenantRecord], actor: str, queue: str, message: str
) -> None:
    acme = tenants[0]
    async with tenant_scope(acme):
        with pytest.raises(ValueError, match=message):
            await enqueue(actor, queue=queue)
    with pytest.raises(ValueError, match=message):
        await enqueue_platform(actor, queue=queue)
    assert await outbox(tenancy, acme) == []
    assert await PlatformJob.all().count() == 0


async def test_platform_jobs_dedupe_across_concurrent_callers(tenancy: Tenancy) -> None:
    results = await asyncio.gather(
        *(enqueue_platform("backup.registry", dedupe_key="backup@1") for _ in range(6))
    )
    assert sum(result is not None for result in results) == 1
    [job] = await PlatformJob.all()
    assert (job.actor, job.queue, job.status, job.dedupe_key) == (
        "backup.registry", "maintenance", "pending", "backup@1",
    )  # fmt: skip
