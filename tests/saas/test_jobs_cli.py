"""``saas jobs failed`` and ``saas jobs retry``, run in-process as an operator runs
them, against a job that really ran out of retries in real workers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from saas.app import make_tenancy
from saas.cli import main
from saas.config import Settings, load_settings
from tenants.provisioning import create_tenant
from tests.conftest import drop_postgres_leftovers
from tests.saas.harness import app_environ
from tests.workers.harness import effects, enqueue_jobs, job_status, running_work, wait_for
from tests.workers.jobs import CALLS, RECORD, RECORD_RETRIES


@pytest.fixture
def settings(dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The command's environment; PostgreSQL schemas dropped afterwards."""
    for name, value in app_environ(dialect, tmp_path / "var").items():
        monkeypatch.setenv(name, value)
    CALLS.clear()
    yield load_settings()
    CALLS.clear()
    if dialect == "postgres":
        asyncio.run(_drop_all(load_settings()))


async def _drop_all(settings: Settings) -> None:
    async with make_tenancy(settings) as tenancy:
        names = [t.schema_name for t in await tenancy.registry.all()]
    await drop_postgres_leftovers(settings.tenancy(), names)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def work_until(settings: Settings, status: str, *, fail_times: int = 0) -> int:
    """Start the app's runtime and workers; with ``fail_times``, first enqueue a job in
    tenant acme. Returns when acme's first job has ``status``."""
    async with make_tenancy(settings) as tenancy:
        if fail_times:
            acme = await create_tenant("acme", "Acme", actor="test")
            await enqueue_jobs(acme, ["cli"], fail_times=fail_times)
        acme = await tenancy.registry.by_slug("acme")
        async with running_work(tenancy):
            await wait_for(job_status(tenancy, acme, 1, status), what=f"the job {status}")
        return sum((await effects(tenancy, acme)).values())


def test_dead_letters_are_listed_and_retried_once_from_the_command_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    attempts = RECORD_RETRIES + 1
    assert asyncio.run(work_until(settings, "failed", fail_times=attempts)) == 0

    code, out, _ = run(capsys, "jobs", "failed", "--json")
    assert code == 0
    [letter] = json.loads(out)
    assert {k: letter[k] for k in ("tenant", "job_id", "actor", "queue", "attempts")} == {
        "tenant": "acme", "job_id": 1, "actor": RECORD, "queue": "default", "attempts": attempts,
    }  # fmt: skip
    assert letter["error"] == f"JobFailed: cli: attempt {attempts} fails on purpose"
    assert letter["retried_at"] is None
    code, out, _ = run(capsys, "jobs", "failed")
    assert code == 0
    [line] = out.splitlines()
    assert line.split()[:4] == [str(letter["id"]), "acme", RECORD, str(attempts)]

    code, out, _ = run(capsys, "jobs", "retry", str(letter["id"]))
    assert (code, out) == (0, f"job 1 ({RECORD}) of acme queued again\n")
    code, _, err = run(capsys, "jobs", "retry", str(letter["id"]))
    assert (code, err) == (1, f"error: dead letter {letter['id']} was already retried\n")
    code, _, err = run(capsys, "jobs", "retry", "999")
    assert (code, err) == (1, "error: no dead letter 999\n")

    # The retried job runs (its next attempt succeeds) and its effect happens once.
    assert asyncio.run(work_until(settings, "done")) == 1
    assert len(CALLS["cli"]) == attempts + 1
    code, out, _ = run(capsys, "jobs", "failed", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = run(capsys, "jobs", "failed", "--all", "--json")
    [retried] = json.loads(out)
    assert retried["id"] == letter["id"]
    assert retried["retried_at"] is not None
