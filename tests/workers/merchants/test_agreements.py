"""The agreement jobs through the real job path: the daily schedule fans out to every
active tenant's outbox, the relay sends, an in-process worker moves the merchants that
let the deadline pass, once per day however often it is asked; publishing a version
with a deadline mails the owners through its own job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from schema.core.principal import system_principal
from schema.identity.service import MAIL_ACTOR
from schema.merchants.models import Merchant, MerchantAgreement
from schema.merchants.service.agreements import (
    DEADLINE_ACTOR,
    NOTIFY_ACTOR,
    AgreementDraft,
    publish,
)
from schema.merchants.status import MerchantStatus
from tenants.models import JobStatus, PlatformJob
from tenants.outbox import JobOutbox, enqueue_platform
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.schema.merchants.people import make_shop
from tests.workers.harness import running_work, wait_for
from workers import scheduler
from workers.actors import ACTORS

ACTOR_MODULE = "workers.merchants.agreements"
SLOT = "2026-07-01T03:10:00+00:00"
CONFIGURE = system_principal("test")


@pytest.fixture
def agreement_schedule(
    schedule_of: Callable[[str], dict[str, scheduler.Periodic]],
) -> dict[str, scheduler.Periodic]:
    return schedule_of(ACTOR_MODULE)


def test_the_check_is_daily_on_the_maintenance_queue(
    agreement_schedule: dict[str, scheduler.Periodic],
) -> None:
    [(name, entry)] = agreement_schedule.items()
    assert (name, entry.cron, entry.queue) == (
        "merchants.agreement.deadline.schedule",
        "10 3 * * *",
        "maintenance",
    )
    assert entry.latest_slot(datetime(2026, 7, 1, 12, tzinfo=UTC)).isoformat() == SLOT
    check, notify = ACTORS[DEADLINE_ACTOR], ACTORS[NOTIFY_ACTOR]
    assert (check.platform, check.queue, check.transactional) == (False, "maintenance", True)
    assert (notify.platform, notify.queue, notify.transactional) == (False, "default", True)


async def overdue(tenant: TenantRecord) -> int:
    """A tenant with an active merchant that let v2's deadline pass; its id."""
    async with tenant_scope(tenant):
        shop = await make_shop("Ada's Bakery", "ada@example.com")
        draft = AgreementDraft("v2", "Terms", "b", datetime.now(UTC) + timedelta(days=1))
        agreement = await publish(CONFIGURE, draft)
        past = datetime.now(UTC) - timedelta(hours=1)
        await MerchantAgreement.filter(id=agreement.id).update(reacceptance_deadline=past)
        return shop.merchant.id


async def jobs_done(tenant: TenantRecord, actor: str) -> bool:
    async with tenant_scope(tenant):
        statuses = await JobOutbox.filter(actor=actor).values_list("status", flat=True)
    return bool(statuses) and set(statuses) == {JobStatus.DONE}


async def test_the_daily_job_moves_the_late_merchants_once(
    tenancy: Tenancy, agreement_schedule: dict[str, scheduler.Periodic]
) -> None:
    acme = await create_tenant("acme", "Acme", actor="test")
    globex = await create_tenant("globex", "Globex", actor="test")
    late = {acme.id: await overdue(acme), globex.id: await overdue(globex)}

    async def done(actor: str) -> bool:
        return await jobs_done(acme, actor) and await jobs_done(globex, actor)

    async def platform_done() -> bool:
        return set(await PlatformJob.all().values_list("status", flat=True)) == {JobStatus.DONE}

    modules = (ACTOR_MODULE,)
    async with running_work(tenancy, pools={"default": 1, "maintenance": 1}, actor_modules=modules):
        await wait_for(lambda: done(NOTIFY_ACTOR), what="the re-acceptance mails")
        assert await scheduler.tick(datetime(2026, 7, 1, 12, tzinfo=UTC)) == [
            f"merchants.agreement.deadline.schedule@{SLOT}"
        ]
        await wait_for(lambda: done(DEADLINE_ACTOR), what="both tenants' deadline checks")
        await enqueue_platform("merchants.agreement.deadline.schedule", {"slot": SLOT})
        await wait_for(platform_done, what="the second fan-out")

    for tenant in (acme, globex):
        async with tenant_scope(tenant):
            merchant = await Merchant.get(id=late[tenant.id])
            [job] = await JobOutbox.filter(actor=DEADLINE_ACTOR)
            mails = await JobOutbox.filter(actor=MAIL_ACTOR).order_by("id")
        assert merchant.status is MerchantStatus.AGREEMENT_PENDING
        assert (job.dedupe_key, job.queue) == (f"{DEADLINE_ACTOR}@2026-07-01", "maintenance")
        # The notice of the new version (its job) and the notice that trading stopped.
        assert [m.decoded_args()["template"] for m in mails] == [
            "merchant_agreement_reaccept",
            "merchant_agreement_required",
        ]
