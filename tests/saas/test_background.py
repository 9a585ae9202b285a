"""The combined API and worker process (embedded mode): a job asked for by code running
in the API's runtime runs in the app's own worker pools, on their own runtime and loop,
and its effect is what the API then serves."""

from __future__ import annotations

from tenants.outbox import JobOutbox, enqueue
from tenants.scope import tenant_scope
from tests.saas.harness import SETTINGS_QUERY, AppStarter, RunningApp
from tests.workers.harness import wait_for
from tests.workers.jobs import RENAME

POOLS = "default:1,critical:1,maintenance:1,webhooks:1"


async def served_name(running: RunningApp) -> str:
    response = await running.graphql(SETTINGS_QUERY)
    return response.json()["data"]["tenantSettings"]["name"]


async def test_a_job_enqueued_in_the_api_runs_in_its_worker_pools(
    dialect: str, start_app: AppStarter
) -> None:
    async with start_app(
        dialect, SAAS_WORKER_POOLS=POOLS, SAAS_SCHEDULER="false", SAAS_RELAY_INTERVAL="0.05"
    ) as running:
        background = running.app.state.background
        assert background.config.embedded
        acme = await running.add_tenant("acme", "Acme")
        assert await served_name(running) == "Acme"
        async with tenant_scope(acme):
            job = await enqueue(RENAME, {"name": "Renamed by a job"})
        assert job is not None

        async def renamed() -> bool:
            return await served_name(running) == "Renamed by a job"

        await wait_for(renamed, what="the job's effect served by the API")
        # It ran in the worker pools' runtime, not the API's.
        worker_runtime = background.runtime.require()
        assert worker_runtime is not running.tenancy
        async with tenant_scope(acme):
            assert await JobOutbox.filter(id=job.id).values_list("status", flat=True) == ["done"]
