"""The relay (``workers/relay.py``): committed rows, and only those, go to the broker,
each once; a send that fails or a message lost with its process is sent again."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from tenants.backends import TENANT_ALIAS
from tenants.models import OutboxHint, PlatformJob
from tenants.outbox import enqueue, enqueue_platform
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.tenants.helpers import RawSql, sqlite_file
from tests.workers.harness import (
    FAST_RELAY,
    Sends,
    enqueue_jobs,
    job_status,
    make_work,
    other_runtime,
    outbox_rows,
    relaying,
    statuses,
    wait_for,
)
from tests.workers.jobs import PLATFORM, RECORD
from workers.relay import Relay, RelayConfig


class Rollback(Exception):
    pass


async def test_committed_jobs_are_sent_once_and_marked_sent(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    acme, globex = two_tenants
    acme_ids = await enqueue_jobs(acme, ["a1", "a2", "a3"])
    globex_ids = await enqueue_jobs(globex, ["g1"])
    platform = await enqueue_platform(PLATFORM, {"marker": "p1"})
    assert platform is not None
    sends = Sends()
    relay = Relay(tenancy, sends, FAST_RELAY)
    assert await relay.sweep() == 5
    assert sorted(sends.sent, key=str) == sorted(
        [(RECORD, acme.id, i) for i in acme_ids]
        + [(RECORD, globex.id, i) for i in globex_ids]
        + [(PLATFORM, None, platform.id)],
        key=str,
    )
    for tenant in two_tenants:
        rows = await outbox_rows(tenancy, tenant)
        assert {row["status"] for row in rows} == {"sent"}
        assert all(row["sent_at"] is not None for row in rows)
    assert await PlatformJob.filter(status="sent").count() == 1
    # Sent rows are not sent again before they are stale.
    assert await relay.sweep() == 0
    assert await relay.relay_hinted() == 0
    assert len(sends.sent) == 5


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_nothing_reaches_the_broker_before_its_transaction_commits(
    tenancy: Tenancy, two_tenants: list[TenantRecord], outcome: str
) -> None:
    """A relay with connections of its own (as in another process) looks while the
    job's transaction is open: it sees nothing; after a commit it sends the job, after
    a rollback there is nothing to send."""
    acme = two_tenants[0]
    enqueued, finish = asyncio.Event(), asyncio.Event()

    async def service() -> None:
        async with tenant_scope(acme), in_transaction(TENANT_ALIAS):
            await enqueue(RECORD, {"marker": "m"})
            enqueued.set()
            await finish.wait()
            if outcome == "rollback":
                raise Rollback

    task = asyncio.create_task(service())
    sends = Sends()
    async with other_runtime(tenancy) as other:
        relay = Relay(other, sends, FAST_RELAY)
        await enqueued.wait()
        with other.bind():
            assert await relay.sweep() == 0
        assert sends.sent == []
        finish.set()
        with pytest.raises(Rollback) if outcome == "rollback" else nullcontext():
            await task
        with other.bind():
            assert await relay.sweep() == (1 if outcome == "commit" else 0)
    assert len(sends.sent) == (1 if outcome == "commit" else 0)


async def test_hints_lead_the_relay_to_fresh_work_and_the_sweep_finds_the_rest(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    acme, globex = two_tenants
    await enqueue_jobs(acme, ["hinted"])
    await enqueue_jobs(globex, ["unhinted"])
    # As if globex's process died between its commit and writing the hint.
    await OutboxHint.filter(tenant_id=globex.id).delete()
    assert await OutboxHint.filter(tenant_id=acme.id).exists()
    sends = Sends()
    relay = Relay(tenancy, sends, FAST_RELAY)
    assert await relay.relay_hinted() == 1
    assert [tenant for _, tenant, _ in sends.sent] == [acme.id]
    assert not await OutboxHint.exists()  # acme has nothing pending any more
    assert await relay.sweep() == 1  # every tenant, hinted or not
    assert [tenant for _, tenant, _ in sends.sent] == [acme.id, globex.id]


async def test_a_failed_send_puts_the_job_back_for_the_next_round(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    acme = two_tenants[0]
    [job] = await enqueue_jobs(acme, ["m"])
    sends = Sends(fail=1)
    relay = Relay(tenancy, sends, FAST_RELAY)
    assert await relay.sweep() == 0
    [row] = await outbox_rows(tenancy, acme)
    assert (row["status"], row["sent_at"]) == ("pending", None)
    assert await OutboxHint.filter(tenant_id=acme.id).exists()  # still has work
    assert await relay.relay_hinted() == 1
    assert sends.sent == [(RECORD, acme.id, job)]


async def test_a_job_no_actor_handles_is_retired(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    acme = two_tenants[0]
    async with tenant_scope(acme):
        ghost = await enqueue("gone.in.this.release", {})
    assert ghost is not None
    work = make_work(tenancy)  # the real send: no worker needed to refuse a name
    try:
        assert await Relay(tenancy, work.send, FAST_RELAY).sweep() == 0
    finally:
        work.broker.close()
    [row] = await outbox_rows(tenancy, acme)
    assert (row["status"], row["last_error"]) == ("failed", "no actor named 'gone.in.this.release'")


async def test_a_sent_job_not_done_in_time_is_sent_again(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """Its message may have died with the process that held it."""
    acme = two_tenants[0]
    [job] = await enqueue_jobs(acme, ["m"])
    sends = Sends()
    relay = Relay(tenancy, sends, RelayConfig(redeliver_after=timedelta(milliseconds=200)))
    assert await relay.sweep() == 1
    first_sent_at = (await outbox_rows(tenancy, acme))[0]["sent_at"]
    assert await relay.sweep() == 0
    await asyncio.sleep(0.25)
    assert await relay.sweep() == 1
    assert sends.sent == [(RECORD, acme.id, job)] * 2
    [row] = await outbox_rows(tenancy, acme)
    assert row["status"] == "sent"
    assert row["sent_at"] != first_sent_at


async def test_after_a_restart_the_embedded_relay_resends_every_sent_job(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """The embedded broker lost its messages with the process: ``redeliver_all_sent``."""
    acme = two_tenants[0]
    jobs = await enqueue_jobs(acme, ["m1", "m2"])
    await Relay(tenancy, Sends(), FAST_RELAY).sweep()
    restarted = Sends()
    assert await Relay(tenancy, restarted, FAST_RELAY).sweep(redeliver_all_sent=True) == 2
    assert restarted.sent == [(RECORD, acme.id, job) for job in jobs]


async def test_a_delayed_job_is_sent_once_due(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    acme = two_tenants[0]
    async with tenant_scope(acme):
        job = await enqueue(RECORD, {"marker": "later"}, delay=timedelta(milliseconds=300))
    assert job is not None
    sends = Sends()
    relay = Relay(tenancy, sends, FAST_RELAY)
    assert await relay.relay_hinted() == 0
    assert await OutboxHint.filter(tenant_id=acme.id).exists()  # kept until it is sent
    await asyncio.sleep(0.35)
    assert await relay.relay_hinted() == 1
    assert (await statuses(tenancy, acme))[job.id] == "sent"


async def test_two_relays_at_once_send_each_job_once(
    tenancy: Tenancy, two_tenants: list[TenantRecord]
) -> None:
    """Two processes' relays sweep the same outboxes at the same time: the claim
    (pending -> sent, compare-and-swap) gives each job to one of them."""
    for tenant in two_tenants:
        await enqueue_jobs(tenant, [f"{tenant.slug}-{i}" for i in range(10)])
    here, there = Sends(delay=0.002), Sends(delay=0.002)
    async with other_runtime(tenancy) as other:

        async def sweep_there() -> int:
            with other.bind():
                return await Relay(other, there, FAST_RELAY).sweep()

        counts = await asyncio.gather(Relay(tenancy, here, FAST_RELAY).sweep(), sweep_there())
    assert sum(counts) == 20
    sent = here.sent + there.sent
    assert len(sent) == len(set(sent)) == 20


async def break_outbox(tenancy: Tenancy, tenant: TenantRecord) -> None:
    """Make one tenant's outbox unreadable, as a damaged file or schema would be."""
    if tenancy.config.dialect == "sqlite":
        await tenancy.backend.forget(tenant.schema_name)
        sqlite_file(tenancy.backend, tenant.schema_name).write_bytes(b"not a database" * 512)
    else:
        await RawSql(tenancy, tenant.schema_name).execute("DROP TABLE job_outbox")


async def test_one_broken_tenant_store_does_not_stop_the_relay(
    tenancy: Tenancy, two_tenants: list[TenantRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """Every other tenant's jobs are still relayed, in this round and the next ones."""
    acme, globex = sorted(two_tenants, key=lambda t: t.id)  # the broken one comes first
    await enqueue_jobs(acme, ["before"])
    await break_outbox(tenancy, acme)
    [job] = await enqueue_jobs(globex, ["before"])
    sends = Sends()
    relay = Relay(tenancy, sends, FAST_RELAY)
    assert await relay.sweep() == 1
    assert sends.sent == [(RECORD, globex.id, job)]
    assert f"outbox of {acme.id} not relayed" in caplog.text
    async with relaying(relay, redeliver_all_sent=False):
        [later] = await enqueue_jobs(globex, ["later"])
        await wait_for(job_status(tenancy, globex, later, "sent"), what="the later job sent")
    assert sends.sent[-1] == (RECORD, globex.id, later)


async def test_the_relay_keeps_going_after_a_failed_round(
    tenancy: Tenancy, two_tenants: list[TenantRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """The shared store fails for a while (here: its hint table is away): the rounds
    fail and are logged, and relaying resumes once the store is back."""
    acme = two_tenants[0]
    registry = RawSql(tenancy)
    sends = Sends()
    async with relaying(Relay(tenancy, sends, FAST_RELAY), redeliver_all_sent=False):
        await registry.execute("ALTER TABLE outbox_hint RENAME TO outbox_hint_away")
        try:
            await wait_for(lambda: _logged(caplog, "relay round failed"), what="a failed round")
        finally:
            await registry.execute("ALTER TABLE outbox_hint_away RENAME TO outbox_hint")
        [job] = await enqueue_jobs(acme, ["after"])
        await wait_for(job_status(tenancy, acme, job, "sent"), what="the job sent")
    assert sends.sent == [(RECORD, acme.id, job)]


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return text in caplog.text
