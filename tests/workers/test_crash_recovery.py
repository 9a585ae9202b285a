"""A process killed after commit and before send, and one killed while an actor runs:
after a restart every job has run, and its database effect happened exactly once.

The process is ``tests/workers/crash_driver.py``, the app's own relay, workers and
outbox on the test's stores, killed with SIGKILL at a moment it announces on stdout.
The restart is this test process: a fresh relay and worker pools on the same stores.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.workers.harness import (
    all_done,
    effects,
    outbox_rows,
    running_work,
    statuses,
    wait_for,
)
from workers.relay import RelayConfig

ROOT = Path(__file__).resolve().parents[2]
JOBS = 6  # per tenant
HOLD = 3  # mid-run: the job of the first tenant killed while it runs
# The restart: stale "sent" rows (their messages may be gone) are sent again quickly.
RESTART_RELAY = RelayConfig(
    poll_interval=0.05, sweep_interval=0.2, redeliver_after=timedelta(milliseconds=300)
)


@pytest.fixture(params=["embedded", "redis"])
def crash_broker(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("clean_redis") if request.param == "redis" else None


class Driver:
    def __init__(self, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.process = process
        self.stderr = stderr
        self.lines: list[str] = []

    async def expect(self, *wanted: str, within: float = 30.0) -> None:
        """Read stdout until a line starting with each of ``wanted`` has been printed."""
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(within):
                while not all(any(seen.startswith(w) for seen in self.lines) for w in wanted):
                    line = await self.process.stdout.readline()
                    if not line:
                        raise AssertionError(f"the driver exited: {self.stderr.read_text()}")
                    self.lines.append(line.decode().strip())
        except TimeoutError:
            message = f"no {wanted} in {self.lines}: {self.stderr.read_text()}"
            raise AssertionError(message) from None

    async def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL


@asynccontextmanager
async def driver(
    tenancy: Tenancy, tmp_path: Path, mode: str, broker_url: str | None
) -> AsyncIterator[Driver]:
    spec = {
        "data_dir": str(tenancy.config.data_dir),
        "database_url": tenancy.config.database_url,
        "registry_schema": tenancy.config.registry_schema,
        "broker_url": broker_url,
        "jobs": JOBS,
        "hold": HOLD,
        "mode": mode,
    }
    stderr = tmp_path / f"driver-{mode}.err"
    with stderr.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.workers.crash_driver", orjson.dumps(spec).decode(),
            stdout=asyncio.subprocess.PIPE, stderr=err, cwd=ROOT,
        )  # fmt: skip
    try:
        yield Driver(process, stderr)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def restart_and_finish(
    tenancy: Tenancy, tenants: list[TenantRecord], broker_url: str | None
) -> None:
    """A fresh process's relay and workers, until every job is done."""
    async with running_work(tenancy, broker_url, relay=RESTART_RELAY):
        await wait_for(all_done(tenancy, tenants), within=30, what="every job done")


async def states_by_marker(tenancy: Tenancy, tenant: TenantRecord) -> dict[str, str]:
    rows = await outbox_rows(tenancy, tenant)
    return {orjson.loads(row["args"])["marker"]: row["status"] for row in rows}


async def assert_each_effect_once(tenancy: Tenancy, tenants: list[TenantRecord]) -> None:
    for tenant in tenants:
        assert await effects(tenancy, tenant) == Counter(f"{tenant.slug}-{i}" for i in range(JOBS))
        assert set((await statuses(tenancy, tenant)).values()) == {"done"}


async def test_a_process_killed_after_commit_and_before_send(
    tenancy: Tenancy,
    two_tenants: list[TenantRecord],
    crash_broker: str | None,
    tmp_path: Path,
) -> None:
    async with driver(tenancy, tmp_path, "before-send", crash_broker) as process:
        await process.expect("committed acme", "committed globex", "sending ")
        await process.kill()
    # Dead with every job committed, one claimed for sending and never sent.
    states: Counter[str] = Counter()
    for tenant in two_tenants:
        states.update((await states_by_marker(tenancy, tenant)).values())
        assert await effects(tenancy, tenant) == Counter()
    assert states == {"pending": 2 * JOBS - 1, "sent": 1}

    await restart_and_finish(tenancy, two_tenants, crash_broker)
    await assert_each_effect_once(tenancy, two_tenants)


async def test_a_process_killed_while_an_actor_runs(
    tenancy: Tenancy,
    two_tenants: list[TenantRecord],
    crash_broker: str | None,
    tmp_path: Path,
) -> None:
    acme = two_tenants[0]
    async with driver(tenancy, tmp_path, "mid-run", crash_broker) as process:
        await process.expect(f"running acme-{HOLD}")
        await process.kill()
    # Dead in the middle of a job: the jobs sent before it done (one worker thread
    # runs them in order), its own effect never committed, the later ones not run.
    assert await effects(tenancy, acme) == Counter(f"acme-{i}" for i in range(HOLD))
    states = await states_by_marker(tenancy, acme)
    assert [states[f"acme-{i}"] for i in range(HOLD + 1)] == ["done"] * HOLD + ["sent"]
    assert "done" not in [states[f"acme-{i}"] for i in range(HOLD, JOBS)]

    await restart_and_finish(tenancy, two_tenants, crash_broker)
    await assert_each_effect_once(tenancy, two_tenants)
