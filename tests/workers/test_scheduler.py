"""The scheduler (``workers/scheduler.py``): a periodic job runs once per period however
many schedulers tick, and once (not once per missed period) after downtime."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tenants.models import PlatformJob, TenantEvent
from tenants.runtime import Tenancy
from tests.workers.harness import running_work, wait_for
from tests.workers.jobs import PLATFORM
from workers import scheduler
from workers.scheduler import periodic, run_scheduler, tick

T0 = datetime(2024, 3, 1, 12, 7, 30, tzinfo=UTC)  # slot 12:05 of a 5-minute schedule
PERIOD = timedelta(minutes=5)


@pytest.fixture(autouse=True)
def only_test_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "PERIODIC", {})


async def keys() -> list[str]:
    return sorted(str(job.dedupe_key) for job in await PlatformJob.all())


async def test_concurrent_schedulers_claim_each_slot_once(tenancy: Tenancy) -> None:
    periodic(PLATFORM, "*/5 * * * *")
    periodic("tests.hourly", "0 * * * *")
    claimed = await asyncio.gather(*(tick(T0) for _ in range(5)))
    assert sorted(key for keys in claimed for key in keys) == [
        "tests.hourly@2024-03-01T12:00:00+00:00",
        "tests.platform@2024-03-01T12:05:00+00:00",
    ]
    assert await keys() == [
        "tests.hourly@2024-03-01T12:00:00+00:00",
        "tests.platform@2024-03-01T12:05:00+00:00",
    ]
    job = await PlatformJob.get(dedupe_key="tests.platform@2024-03-01T12:05:00+00:00")
    assert (job.queue, job.decoded_args()) == ("maintenance", {"slot": "2024-03-01T12:05:00+00:00"})
    # Later in the same period: nothing new.
    assert await tick(T0 + timedelta(minutes=2)) == []


async def test_after_downtime_only_the_latest_missed_slot_runs(tenancy: Tenancy) -> None:
    periodic(PLATFORM, "*/5 * * * *")
    assert await tick(T0) == ["tests.platform@2024-03-01T12:05:00+00:00"]
    assert await tick(T0 + 5 * PERIOD) == ["tests.platform@2024-03-01T12:30:00+00:00"]
    assert await keys() == [
        "tests.platform@2024-03-01T12:05:00+00:00",
        "tests.platform@2024-03-01T12:30:00+00:00",
    ]


def test_an_invalid_cron_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid cron expression"):
        periodic(PLATFORM, "every day")


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_two_running_schedulers_run_the_periodic_job_once(tenancy: Tenancy) -> None:
    """Two scheduler loops and the workers: the job of the current minute runs once."""
    periodic(PLATFORM, "* * * * *")
    stop = asyncio.Event()
    async with running_work(tenancy, pools={"maintenance": 1}):
        loops = [asyncio.create_task(run_scheduler(tenancy, stop, interval=0.05)) for _ in range(2)]
        try:
            await wait_for(lambda: PlatformJob.filter(status="done").exists(), what="a run")
            await asyncio.sleep(0.3)  # several more ticks of both schedulers
        finally:
            stop.set()
            await asyncio.gather(*loops)
        await wait_for(lambda: _all_done(), what="every claimed slot done")
    slots = [job.decoded_args()["slot"] for job in await PlatformJob.all()]
    events = await TenantEvent.filter(action="job").values_list("reason", flat=True)
    # A minute boundary may fall inside the test: then its slot runs too, once.
    assert len(slots) in (1, 2)
    assert sorted(events) == sorted(f"slot:{slot}" for slot in slots)


async def _all_done() -> bool:
    return not await PlatformJob.exclude(status="done").exists()
