"""``merchants.screen`` through the real job path: the submission's transaction writes
the job with the application, the relay sends it, a worker pool (embedded, Redis or
RabbitMQ) runs it, and the applicant's mail goes out through the mail job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from schema.identity.models import User
from schema.merchants.models import Merchant, MerchantEvent, RiskLevel, ScreeningFinding
from schema.merchants.service.screening import SCREEN_ACTOR, Check
from schema.merchants.status import MerchantStatus
from tenants.backends import TENANT_ALIAS
from tenants.outbox import JobOutbox, enqueue
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.schema.merchants.applications import submitted
from tests.workers.harness import job_status, running_work, wait_for
from workers.actors import ACTORS
from workers.mail.config import MailConfig, configure_mail
from workers.mail.senders import FileSender

MODULES = ("workers.merchants.actors", "workers.mail.actors")


@pytest.fixture
async def acme(tenancy: Tenancy) -> TenantRecord:
    return await create_tenant("acme", "Acme Ltd", actor="test")


@pytest.fixture
def outbox_mail(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "mail"
    configure_mail(MailConfig(FileSender(folder), "noreply@platform.example"))
    yield folder
    configure_mail(None)


async def submit(tenant: TenantRecord, **fields: object) -> tuple[Merchant, int]:
    """A complete application and its screening job, committed together (as the
    submission does)."""
    async with tenant_scope(tenant), in_transaction(TENANT_ALIAS):
        owner = await User.create(email="ada@example.com", full_name="Ada Applicant")
        merchant = await submitted(owner, **fields)
        job = await enqueue(SCREEN_ACTOR, {"merchant_id": merchant.id, "submission": 1})
    assert job is not None
    return merchant, job.id


def test_the_actor_is_a_transactional_default_queue_job() -> None:
    import workers.merchants.actors  # noqa: F401  (declares it)

    spec = ACTORS[SCREEN_ACTOR]
    assert (spec.platform, spec.queue, spec.transactional) == (False, "default", True)


async def test_a_worker_screens_a_submission_once(
    tenancy: Tenancy, acme: TenantRecord, broker_url: str | None, outbox_mail: Path
) -> None:
    merchant, job = await submit(acme)
    async with running_work(tenancy, broker_url, actor_modules=MODULES):
        await wait_for(job_status(tenancy, acme, job, "done"), what="the screening job")
        # Delivered again (a redelivery, a second relay): nothing more happens.
        async with tenant_scope(acme):
            again = await enqueue(SCREEN_ACTOR, {"merchant_id": merchant.id, "submission": 1})
        assert again is not None
        await wait_for(job_status(tenancy, acme, again.id, "done"), what="the second job")
    async with tenant_scope(acme):
        row = await Merchant.get(id=merchant.id)
        findings = await ScreeningFinding.filter(merchant_id=merchant.id).count()
        events = await MerchantEvent.filter(merchant_id=merchant.id).values_list("action", "actor")
        jobs = await JobOutbox.all().values_list("actor", flat=True)
    assert (row.status, row.risk_level) == (MerchantStatus.IN_REVIEW, RiskLevel.LOW)
    assert findings == len(Check)
    assert events == [("screen_pass", f"system:job:{SCREEN_ACTOR}")]
    assert sorted(jobs) == [SCREEN_ACTOR, SCREEN_ACTOR]  # no mail on a pass
    assert sent(outbox_mail) == []


async def test_a_returned_application_is_mailed_to_the_applicant(
    tenancy: Tenancy, acme: TenantRecord, outbox_mail: Path
) -> None:
    merchant, job = await submit(acme, bank=None)
    async with running_work(tenancy, actor_modules=MODULES):
        await wait_for(job_status(tenancy, acme, job, "done"), what="the screening job")
        await wait_for(lambda: _mail_sent(outbox_mail), what="the applicant's mail")
    async with tenant_scope(acme):
        row = await Merchant.get(id=merchant.id)
    assert row.status is MerchantStatus.NEEDS_INFORMATION
    [text] = sent(outbox_mail)
    assert "Subject: Acme Ltd: your merchant application needs more information" in text
    assert "- give the bank account the payouts go to (bank_details)" in text


def sent(folder: Path) -> list[str]:
    """The messages the file sender wrote."""
    return [p.read_text() for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


async def _mail_sent(folder: Path) -> bool:
    return bool(sent(folder))
