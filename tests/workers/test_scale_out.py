"""Scale-out: the API process only relays, and a separate ``saas worker`` process (the
real command, as a subprocess) runs the jobs from Redis until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.saas.harness import app_environ
from tests.workers.harness import (
    all_done,
    effect_tenants,
    effects,
    enqueue_jobs,
    make_work,
    relaying,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
# The command with the test actors declared (the app declares its own the same way).
WORKER = "import sys, tests.workers.jobs; from saas.cli import main; sys.exit(main(['worker']))"


async def test_saas_worker_runs_the_jobs_the_api_relays_and_stops_on_sigterm(
    tenancy: Tenancy, two_tenants: list[TenantRecord], clean_redis: str
) -> None:
    redis_url = clean_redis
    env = {
        **os.environ,
        **app_environ(tenancy.config.dialect, tenancy.config.data_dir),
        "SAAS_REGISTRY_SCHEMA": tenancy.config.registry_schema,
        "SAAS_BROKER_URL": redis_url,
        "SAAS_WORKER_POOLS": "default:2",
        "SAAS_WORKER_METRICS_PORT": "0",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert worker.stdout is not None
        ready = await asyncio.wait_for(worker.stdout.readline(), 30)
        assert ready.startswith(b"worker pools {'default': 2} on "), ready
        api = make_work(tenancy, redis_url)  # the API's side: relay only, no pools
        try:
            async with relaying(api.relay(tenancy), redeliver_all_sent=False):
                for tenant in two_tenants:
                    await enqueue_jobs(tenant, [f"{tenant.slug}-{i}" for i in range(5)])
                await wait_for(all_done(tenancy, two_tenants), what="the worker process")
        finally:
            api.broker.close()
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 15) == 0
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    for tenant in two_tenants:
        assert await effects(tenancy, tenant) == Counter(f"{tenant.slug}-{i}" for i in range(5))
        assert await effect_tenants(tenancy, tenant) == {tenant.id}
