"""The ``mail.send`` job through the real job path (outbox, relay, broker, worker pool):
identity's mails become messages, a redelivery repeats its own message rather than
adding one, passing SMTP refusals are retried and permanent ones are dead letters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from schema.identity.models import UserType
from schema.identity.service import MAIL_ACTOR, create_user
from tenants.models import DeadLetter
from tenants.outbox import JobOutbox, JobStatus, enqueue
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.workers.harness import JobCounts, job_status, outbox_rows, running_work, wait_for
from tests.workers.mail.smtp import smtp_server
from workers.actors import ACTORS
from workers.execution import execute_job
from workers.mail.actors import send_mail
from workers.mail.config import MailConfig, configure_mail
from workers.mail.senders import FileSender, Sender, sender_from_url

FROM = "noreply@platform.example"
UseSender = Callable[[Sender], None]
LOCKED = {"tenant": "Acme Ltd", "full_name": "Ada Lovelace", "failures": 5}


@pytest.fixture
async def acme(tenancy: Tenancy) -> TenantRecord:
    return await create_tenant("acme", "Acme Ltd", actor="test")


@pytest.fixture
def use_sender() -> Iterator[UseSender]:
    """``use_sender(sender)`` configures mail for the test; unset afterwards."""

    def use(sender: Sender) -> None:
        configure_mail(MailConfig(sender, FROM))

    yield use
    configure_mail(None)


def read_eml(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def mail_jobs(tenant: TenantRecord) -> list[int]:
    async with tenant_scope(tenant):
        return list(
            await JobOutbox.filter(actor=MAIL_ACTOR).order_by("id").values_list("id", flat=True)
        )


async def test_an_identity_mail_becomes_a_readable_eml_file(
    tenancy: Tenancy, acme: TenantRecord, use_sender: UseSender, tmp_path: Path
) -> None:
    use_sender(FileSender(tmp_path / "mail"))
    async with tenant_scope(acme):
        await create_user("Ada@Example.com", "Ada Lovelace", user_type=UserType.TENANT_STAFF)
    [job] = await mail_jobs(acme)
    async with running_work(tenancy):
        await wait_for(job_status(tenancy, acme, job, "done"), what="the mail job")

    [path] = (tmp_path / "mail").iterdir()
    assert path.name == f"acme-{acme.id}-{job}.eml"
    mail = read_eml(path)
    assert mail["From"] == f"Acme Ltd <{FROM}>"
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"] == "Your Acme Ltd account is ready: set your password"
    assert mail["Message-ID"] == f"<{job}.{acme.id}@platform.example>"
    assert mail["Date"] is not None
    body = mail.get_body()
    assert body is not None
    text = body.get_content()
    assert text.startswith("Hello Ada Lovelace,\n\nan account was created for you at Acme Ltd.")
    assert "/t/acme/account/set-password?token=" in text


async def test_a_redelivered_job_writes_its_own_message_again_not_another(
    tenancy: Tenancy, acme: TenantRecord, use_sender: UseSender, tmp_path: Path
) -> None:
    use_sender(FileSender(tmp_path / "mail"))
    async with tenant_scope(acme):
        row = await enqueue(MAIL_ACTOR, {"to": "ada@example.com", "template": "account_locked",
                                          "params": LOCKED})  # fmt: skip
    assert row is not None
    spec = ACTORS[MAIL_ACTOR]
    assert spec.fn is send_mail
    assert await execute_job(tenancy, spec, acme.id, row.id) == "done"
    first = read_eml(tmp_path / "mail" / f"acme-{acme.id}-{row.id}.eml")
    async with tenant_scope(acme):
        done = await JobOutbox.get(id=row.id)
        # The arguments carried a secret (a mailed link's token): gone once sent.
        assert (done.status, done.args) == (JobStatus.DONE, "{}")
        # Sent, but the "done" mark was lost (the process died in between): sent again.
        await JobOutbox.filter(id=row.id).update(status=JobStatus.SENT, args=row.args)
    assert await execute_job(tenancy, spec, acme.id, row.id) == "done"
    [path] = (tmp_path / "mail").iterdir()
    again = read_eml(path)
    assert again["Message-ID"] == first["Message-ID"] == f"<{row.id}.{acme.id}@platform.example>"
    assert again["Subject"] == first["Subject"] == "Your Acme Ltd account was locked"


async def test_smtp_refusals_retry_when_passing_and_dead_letter_when_permanent(
    tenancy: Tenancy, acme: TenantRecord, use_sender: UseSender
) -> None:
    counts = JobCounts(MAIL_ACTOR)
    with smtp_server() as server:
        use_sender(sender_from_url(f"{server.url}?starttls=0", Path()))
        server.mailbox.replies["later@example.com"] = ["451 4.2.1 mailbox busy, try later"]
        server.mailbox.replies["gone@example.com"] = ["550 5.1.1 no such user"]
        jobs: dict[str, int] = {}
        async with tenant_scope(acme):
            for key, to, template in [
                ("later", "later@example.com", "account_locked"),
                ("gone", "gone@example.com", "account_locked"),
                ("malformed", "not an address", "account_locked"),
                ("unknown", "ada@example.com", "no_such_template"),
            ]:
                row = await enqueue(MAIL_ACTOR, {"to": to, "template": template, "params": LOCKED})
                assert row is not None
                jobs[key] = row.id
        async with running_work(tenancy):
            for key in ("gone", "malformed", "unknown"):
                await wait_for(job_status(tenancy, acme, jobs[key], "failed"), what=key)
            await wait_for(job_status(tenancy, acme, jobs["later"], "done"), what="the retry")

    rows = {row["id"]: row for row in await outbox_rows(tenancy, acme)}
    assert {key: rows[job]["attempts"] for key, job in jobs.items()} == {
        "later": 1, "gone": 1, "malformed": 1, "unknown": 1,
    }  # fmt: skip
    assert counts.delta(MAIL_ACTOR) == {"retried": 1, "failed": 3, "done": 1, "timed": 5}
    letters = {d.job_id: d for d in await DeadLetter.all()}
    assert sorted(letters) == sorted(jobs[k] for k in ("gone", "malformed", "unknown"))
    assert letters[jobs["gone"]].error == (
        "PermanentMailError: recipient refused: 550 5.1.1 no such user"
    )
    assert letters[jobs["malformed"]].error.startswith(
        "PermanentMailError: cannot send to 'not an address': "
    )
    assert letters[jobs["unknown"]].error == (
        "PermanentMailError: unknown mail template 'no_such_template'"
    )
    assert {letter.attempts for letter in letters.values()} == {1}
    # The malformed address and the unknown template never reached the server; the
    # busy mailbox was tried again after its backoff.
    attempts = server.mailbox.rcpt_attempts
    assert sorted(attempts[:2]) == ["gone@example.com", "later@example.com"]
    assert attempts[2:] == ["later@example.com"]
    [delivered] = server.mailbox.received
    assert delivered.rcpt_tos == ["later@example.com"]
    assert delivered.message["Subject"] == "Your Acme Ltd account was locked"
