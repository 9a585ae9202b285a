"""The broker and its middleware, the same for the three set-ups: embedded (Dramatiq's
StubBroker, in-process workers, durable through the outbox), Redis and RabbitMQ.

All actors are ``async``: they run on one event loop thread per process, on which the
worker's own tenancy runtime lives (aiosqlite and asyncpg clients belong to one loop).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import dramatiq
from dramatiq.asyncio import EventLoopThread, get_event_loop_thread, set_event_loop_thread
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Middleware,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from prometheus_client import Counter, Histogram

from tenants.runtime import Tenancy
from workers.actors import ACTORS, ActorSpec, PermanentJobError
from workers.execution import MissingTenant, execute_job, record_failure

log = logging.getLogger("saas.jobs")

JOBS = Counter(
    "saas_jobs_total", "Jobs by actor and outcome (done, skipped, retried, failed)",
    ["actor", "outcome"],
)  # fmt: skip
JOB_DURATION = Histogram("saas_job_duration_seconds", "Job run time", ["actor"])

# How the job a worker thread runs ended ("done" or "skipped"), for JobMetrics. Returning
# it from the actor made Dramatiq warn, for every job, that a result was discarded (no
# Results middleware). The actor's coroutine runs in a copy of the worker thread's
# context, so it fills the very cell JobMetrics put there for this message.
_OUTCOME: ContextVar[dict[str, str] | None] = ContextVar("saas_job_outcome", default=None)


class WorkerRuntime(Middleware):
    """One event loop thread and one tenancy runtime per process, shared by every worker
    pool (Dramatiq's AsyncIO middleware makes a loop per Worker and keeps only the last).

    Set up in ``before_worker_boot``: worker threads start consuming before
    ``after_worker_boot``."""

    def __init__(self, make_tenancy: Callable[[], Tenancy]) -> None:
        self.make_tenancy = make_tenancy
        self.tenancy: Tenancy | None = None
        self._users = 0
        self._lock = threading.Lock()

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            loop_thread = EventLoopThread(log)
            loop_thread.start(timeout=5.0)
            set_event_loop_thread(loop_thread)
            tenancy = self.make_tenancy()
            loop_thread.run_coroutine(tenancy.start(process_default=False))
            self.tenancy = tenancy

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            loop_thread = get_event_loop_thread()
            if loop_thread is None:
                return
            if self.tenancy is not None:
                loop_thread.run_coroutine(self.tenancy.close())
                self.tenancy = None
            loop_thread.stop()
            set_event_loop_thread(None)

    def require(self) -> Tenancy:
        if self.tenancy is None:
            raise RuntimeError("no worker is running in this process")
        return self.tenancy


def _spec_and_ids(message: Any) -> tuple[ActorSpec | None, str | None, int | None]:
    args = message.args
    spec = ACTORS.get(message.actor_name)
    if spec is None or len(args) != 2:
        return spec, None, None
    return spec, args[0], args[1]


class OutboxBookkeeping(Middleware):
    """Counts each failed attempt on the job's outbox row and retires it as a dead
    letter when retries ran out. Listed before ``Retries``: ``after_*`` hooks run in
    reverse order, so this one sees Retries' verdict (``message.failed``)."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None,
        exception: BaseException | None = None,
    ) -> None:  # fmt: skip
        if exception is None:
            return
        self._record(message, f"{type(exception).__name__}: {exception}", message.failed)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._record(message, "skipped by the broker (too old)", True)

    def _record(self, message: Any, error: str, final: bool) -> None:
        spec, tenant_id, job_id = _spec_and_ids(message)
        loop_thread = get_event_loop_thread()
        if spec is None or job_id is None or loop_thread is None:
            return
        if final:
            log.error("job %s (%s) of tenant %s is a dead letter: %s",
                      job_id, message.actor_name, tenant_id, error)  # fmt: skip
        loop_thread.run_coroutine(
            record_failure(self.runtime.require(), spec, tenant_id, job_id, error, final=final)
        )


class JobMetrics(Middleware):
    def __init__(self) -> None:
        # Per worker thread, which runs one message from before_ to after_. Keyed by
        # message id, a retry (same id) that another thread started before this attempt's
        # after_ ran took over the start time, and one duration went unrecorded.
        self._local = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        _OUTCOME.set({})
        self._local.started = time.perf_counter()

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None,
        exception: BaseException | None = None,
    ) -> None:  # fmt: skip
        started, self._local.started = getattr(self._local, "started", None), None
        if started is not None:
            JOB_DURATION.labels(message.actor_name).observe(time.perf_counter() - started)
        if exception is None:
            outcome = (_OUTCOME.get() or {}).get("outcome", "done")
        else:
            outcome = "failed" if message.failed else "retried"
        JOBS.labels(message.actor_name, outcome).inc()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._local.started = None
        JOBS.labels(message.actor_name, "failed").inc()


def make_broker(url: str | None, runtime: WorkerRuntime) -> dramatiq.Broker:
    middleware: list[Middleware] = [
        JobMetrics(),
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        OutboxBookkeeping(runtime),
        Retries(),
        runtime,
    ]
    if not url:
        return StubBroker(middleware=middleware, fail_fast_default=False)
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, middleware=middleware)
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, middleware=middleware)
    raise ValueError(f"unsupported broker URL {url[:40]!r}: redis://, amqp:// or empty")


def bind_actors(broker: dramatiq.Broker, runtime: WorkerRuntime) -> dict[str, dramatiq.Actor]:
    """Make one Dramatiq actor per declared job on this broker. Messages carry only
    ``(tenant_id, job_id)``: the job's arguments stay in its outbox row."""

    def runner(spec: ActorSpec) -> Callable[[str | None, int], Awaitable[None]]:
        async def run(tenant_id: str | None, job_id: int) -> None:
            outcome = await execute_job(runtime.require(), spec, tenant_id, job_id)
            cell = _OUTCOME.get()
            if cell is not None:
                cell["outcome"] = outcome

        run.__name__ = run.__qualname__ = spec.name.replace(".", "_")
        return run

    return {
        spec.name: dramatiq.Actor(
            runner(spec),
            broker=broker,
            actor_name=spec.name,
            queue_name=spec.queue,
            priority=0,
            # A job that can never run (no tenant, or it says so) is dead-lettered at
            # once, not retried.
            options={**spec.dramatiq_options(), "throws": (MissingTenant, PermanentJobError)},
        )
        for spec in ACTORS.values()
    }
