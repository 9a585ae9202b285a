"""A process for ``test_crash_recovery`` to kill: the app's background machinery on the
test's stores, enqueueing jobs and running them until SIGKILL.

    python -m tests.workers.crash_driver '<json>'

with ``data_dir``, ``database_url``, ``registry_schema``, ``broker_url``, ``jobs`` (per
tenant) and ``mode``:

- ``before-send``: the relay claims the first job and then hangs in the broker's send
  (prints ``sending <job id>``), so the process dies after the commit and before the
  send; every tenant's jobs are committed first (``committed <slug>`` each).
- ``mid-run``: one worker thread runs the jobs in order; job ``<first slug>-<hold>``
  announces itself (``running <marker>``) with its effect written but not committed,
  and waits there to be killed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
from tortoise.transactions import in_transaction

from schema import TENANT_MODEL_MODULES
from tenants.backends import TENANT_ALIAS
from tenants.config import TenancyConfig
from tenants.outbox import enqueue
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.workers.harness import make_work
from tests.workers.jobs import RECORD, say
from workers.relay import Relay, RelayConfig

RELAY = RelayConfig(poll_interval=0.05)


def config_of(spec: dict[str, Any]) -> TenancyConfig:
    """The test's stores: its data folder, or its database and registry schema."""
    return TenancyConfig(
        data_dir=Path(spec["data_dir"]),
        database_url=spec["database_url"],
        registry_schema=spec["registry_schema"],
    )


def hang_in_send(actor: str, tenant_id: str | None, job_id: int) -> None:
    say(f"sending {job_id}")
    threading.Event().wait()  # the broker never answers; the process is killed here


async def main(spec: dict[str, Any]) -> None:
    config = config_of(spec)
    tenancy = Tenancy(config, TENANT_MODEL_MODULES)
    await tenancy.start()
    tenants = sorted(await tenancy.registry.all(), key=lambda t: t.slug)
    work = make_work(tenancy, spec["broker_url"], pools={"default": 1}, relay=RELAY)
    if spec["mode"] == "before-send":
        relay = Relay(tenancy, hang_in_send, RELAY)
    else:
        await asyncio.to_thread(work.start_workers)
        relay = work.relay(tenancy)
    relaying = asyncio.create_task(relay.run(redeliver_all_sent=False))
    for tenant in tenants:
        async with tenant_scope(tenant), in_transaction(TENANT_ALIAS):
            for i in range(spec["jobs"]):
                marker = f"{tenant.slug}-{i}"
                args: dict[str, Any] = {"marker": marker}
                if spec["mode"] == "mid-run" and marker == f"{tenants[0].slug}-{spec['hold']}":
                    args.update(announce=True, hold_pid=os.getpid())
                await enqueue(RECORD, args)
        say(f"committed {tenant.slug}")
    await relaying  # runs until the process is killed


if __name__ == "__main__":
    asyncio.run(main(orjson.loads(sys.argv[1])))
