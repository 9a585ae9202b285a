"""The actors of the background-work tests, declared as the app declares its own and
loaded through ``WorkerConfig(actor_modules=JOB_MODULES)``.

A tenant job's database effect is one ``settings_change`` row: ``field`` "job",
``new_value`` the job's marker, ``reason`` the id of the tenant whose scope it ran in.
A platform job's effect is a ``tenant_event`` row with action "job". Tests audit these
with raw SQL (exactly once, in the right tenant). What the database cannot show (when
each attempt started, whether a job is running now) is kept in ``CALLS``: the workers
of these tests run in the test process.

Behaviour on demand, from the job's arguments: ``fail_times`` (the first n attempts
raise), ``sleep`` (seconds, after the effect is written), ``announce`` (print
``running <marker>`` once the effect is written, for a parent process to act on) and
``hold_pid`` (block for a minute when running in that process: the job a crash test
kills mid-run, and that runs normally after the restart).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from schema.settings.models import SettingsChange
from schema.settings.service import SettingsChanges, update_settings
from tenants.models import TenantEvent
from tenants.scope import current_tenant
from workers.actors import platform_actor, tenant_actor

JOB_MODULES = ("tests.workers.jobs",)

RECORD = "tests.record"  # default queue, transactional, three quick retries
CRITICAL = "tests.critical"
MAINTENANCE = "tests.maintenance"  # not transactional: a long job holds no transaction
WEBHOOK = "tests.webhook"
TIME_LIMITED = "tests.time_limited"  # 0.2 s time limit, one retry
PLATFORM = "tests.platform"  # a platform job; also the scheduler's periodic job
RENAME = "tests.rename"  # a domain service call: changes the tenant's settings

MIN_BACKOFF = timedelta(milliseconds=20)
MAX_BACKOFF = timedelta(milliseconds=80)
RECORD_RETRIES = 3
TIME_LIMIT = timedelta(milliseconds=200)

# marker -> time.monotonic() at the start of each attempt, in this process
CALLS: defaultdict[str, list[float]] = defaultdict(list)


def say(line: str) -> None:
    """Report to a test watching this process: one write(2) per line, because threads
    (the relay's, the actors' loop, the main one) report at once and print() writes the
    text and its newline separately, so their lines could interleave."""
    os.write(sys.stdout.fileno(), f"{line}\n".encode())


class JobFailed(Exception):
    """Raised by a job told to fail."""


async def _behave(
    marker: str, fail_times: int, sleep: float, announce: bool, hold_pid: int | None
) -> None:
    attempt = len(CALLS[marker])
    if announce:
        say(f"running {marker}")
    if hold_pid == os.getpid():
        await asyncio.sleep(60)
    if sleep:
        await asyncio.sleep(sleep)
    if attempt <= fail_times:
        raise JobFailed(f"{marker}: attempt {attempt} fails on purpose")


async def record(
    marker: str,
    fail_times: int = 0,
    sleep: float = 0.0,
    announce: bool = False,
    hold_pid: int | None = None,
) -> None:
    CALLS[marker].append(time.monotonic())
    await SettingsChange.create(
        field="job", new_value=marker, actor="tests.workers", reason=current_tenant().id
    )
    await _behave(marker, fail_times, sleep, announce, hold_pid)


async def record_platform(
    marker: str | None = None, slot: str | None = None, fail_times: int = 0
) -> None:
    marker = marker or f"slot:{slot}"
    CALLS[marker].append(time.monotonic())
    await TenantEvent.create(
        tenant_id="-", slug="-", action="job", actor="tests.workers", reason=marker
    )
    await _behave(marker, fail_times, 0.0, False, None)


async def rename(name: str) -> None:
    await update_settings(SettingsChanges(name=name), actor="tests.workers")


_quick: dict[str, Any] = {
    "max_retries": RECORD_RETRIES,
    "min_backoff": MIN_BACKOFF,
    "max_backoff": MAX_BACKOFF,
}
tenant_actor(RECORD, **_quick)(record)
tenant_actor(CRITICAL, queue="critical", **_quick)(record)
tenant_actor(MAINTENANCE, queue="maintenance", transactional=False, **_quick)(record)
tenant_actor(WEBHOOK, queue="webhooks", **_quick)(record)
tenant_actor(
    TIME_LIMITED, max_retries=1, min_backoff=MIN_BACKOFF, max_backoff=MAX_BACKOFF,
    time_limit=TIME_LIMIT,
)(record)  # fmt: skip
tenant_actor(RENAME, **_quick)(rename)
platform_actor(PLATFORM, transactional=True, **_quick)(record_platform)
