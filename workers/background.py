"""Putting background work together: broker, actors, worker pools and the relay.

Embedded (no broker URL): ``saas serve`` runs the relay and the worker pools in its own
process, on Dramatiq's StubBroker. Scale-out (a Redis or RabbitMQ URL): ``saas serve``
only relays, and ``saas worker`` processes run the pools. Each queue has its own pool
(its own threads), so a slow backup never holds up order expiry or a review: Dramatiq's
priorities only order messages a worker has already fetched.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dramatiq

from tenants.runtime import Tenancy
from workers.broker import WorkerRuntime, bind_actors, make_broker
from workers.relay import Relay, RelayConfig, UnknownActor

# Modules whose import declares the actors (``@tenant_actor`` / ``@platform_actor``).
ACTOR_MODULES: tuple[str, ...] = (
    "workers.backups.actors",
    "workers.access.actors",
    "workers.mail.actors",
    "workers.oauth.actors",
    "workers.files.actors",
    "workers.idempotency.actors",
    "workers.merchants.actors",
    "workers.merchants.agreements",
)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    broker_url: str | None = None
    # Threads per queue in this process; a queue with 0 is not consumed here.
    pools: Mapping[str, int] = field(
        default_factory=lambda: {"critical": 2, "default": 2, "webhooks": 1, "maintenance": 1}
    )
    relay: RelayConfig = field(default_factory=RelayConfig)
    actor_modules: tuple[str, ...] = ACTOR_MODULES
    # How long an idle worker thread or consumer waits for a message before it looks
    # again (Dramatiq's default, 1 s): it bounds how late a retry's delay may be honoured
    # and how long stopping a pool takes. The tests use a tenth of it.
    worker_timeout_ms: int = 1000

    @property
    def embedded(self) -> bool:
        return not self.broker_url


class BackgroundWork:
    def __init__(self, config: WorkerConfig, make_tenancy: Callable[[], Tenancy]) -> None:
        for module in config.actor_modules:
            importlib.import_module(module)
        self.config = config
        self.runtime = WorkerRuntime(make_tenancy)
        self.broker = make_broker(config.broker_url, self.runtime)
        self.actors = bind_actors(self.broker, self.runtime)
        self._workers: list[dramatiq.Worker] = []

    def send(self, actor_name: str, tenant_id: str | None, job_id: int) -> None:
        actor = self.actors.get(actor_name)
        if actor is None:
            raise UnknownActor(actor_name)
        actor.send(tenant_id, job_id)

    def relay(self, tenancy: Tenancy) -> Relay:
        return Relay(tenancy, self.send, self.config.relay)

    def start_workers(self, queues: Mapping[str, int] | None = None) -> None:
        # Without process_boot an in-process worker ignores time limits.
        self.broker.emit_after("process_boot")
        for queue, threads in (queues or self.config.pools).items():
            if threads > 0:
                worker = dramatiq.Worker(
                    self.broker,
                    queues={queue},
                    worker_threads=threads,
                    worker_timeout=self.config.worker_timeout_ms,
                )
                worker.start()
                self._workers.append(worker)

    def stop_workers(self, timeout_ms: int = 10_000) -> None:
        workers, self._workers = self._workers, []
        # All pools at once: an idle pool takes up to twice Dramatiq's worker timeout (1 s)
        # to notice it is stopping, so stopping the four pools one after another held
        # every shutdown of `saas serve` for about 6 s.
        if workers:
            with ThreadPoolExecutor(len(workers), thread_name_prefix="stop-pool") as pool:
                list(pool.map(lambda worker: worker.stop(timeout=timeout_ms), workers))
        self.broker.close()
