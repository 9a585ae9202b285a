"""Declaring background jobs.

``@tenant_actor`` declares a job that runs inside one tenant's scope; ``@platform_actor``
a job of no tenant. Declaring does not touch a broker: ``workers.broker.bind_actors``
makes the Dramatiq actors once the broker is chosen (embedded, Redis or RabbitMQ), so the
same code runs on all three. Jobs are asked for only through the outbox
(``tenants.outbox.enqueue``), by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tenants.outbox import QUEUES

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ActorSpec:
    name: str
    fn: JobFunction
    queue: str
    platform: bool
    # True: the job's database effect and its "done" mark commit in one transaction, so a
    # redelivered job does its database work once. False: for long jobs or external
    # effects (a backup, an e-mail), which must be idempotent themselves.
    transactional: bool
    max_retries: int
    min_backoff: timedelta
    max_backoff: timedelta
    time_limit: timedelta

    def dramatiq_options(self) -> dict[str, Any]:
        return {
            "max_retries": self.max_retries,
            "min_backoff": int(self.min_backoff.total_seconds() * 1000),
            "max_backoff": int(self.max_backoff.total_seconds() * 1000),
            "time_limit": int(self.time_limit.total_seconds() * 1000),
        }


ACTORS: dict[str, ActorSpec] = {}


def _declare(
    name: str,
    *,
    platform: bool,
    queue: str,
    transactional: bool,
    max_retries: int,
    min_backoff: timedelta,
    max_backoff: timedelta,
    time_limit: timedelta,
) -> Callable[[JobFunction], JobFunction]:
    if queue not in QUEUES:
        raise ValueError(f"actor {name}: unknown queue {queue!r}")

    def declare(fn: JobFunction) -> JobFunction:
        if name in ACTORS and ACTORS[name].fn is not fn:
            raise ValueError(f"two actors are named {name!r}")
        ACTORS[name] = ActorSpec(
            name, fn, queue, platform, transactional, max_retries, min_backoff, max_backoff,
            time_limit,
        )  # fmt: skip
        return fn

    return declare


def tenant_actor(
    name: str,
    *,
    queue: str = "default",
    transactional: bool = True,
    max_retries: int = 8,
    min_backoff: timedelta = timedelta(seconds=1),
    max_backoff: timedelta = timedelta(minutes=5),
    time_limit: timedelta = timedelta(minutes=2),
) -> Callable[[JobFunction], JobFunction]:
    """A job that runs in the scope of the tenant whose outbox holds it."""
    return _declare(
        name, platform=False, queue=queue, transactional=transactional,
        max_retries=max_retries, min_backoff=min_backoff, max_backoff=max_backoff,
        time_limit=time_limit,
    )  # fmt: skip


def platform_actor(
    name: str,
    *,
    queue: str = "maintenance",
    transactional: bool = False,
    max_retries: int = 5,
    min_backoff: timedelta = timedelta(seconds=5),
    max_backoff: timedelta = timedelta(minutes=10),
    time_limit: timedelta = timedelta(minutes=30),
) -> Callable[[JobFunction], JobFunction]:
    """A job of no tenant, from the shared store's ``platform_job`` outbox."""
    return _declare(
        name, platform=True, queue=queue, transactional=transactional,
        max_retries=max_retries, min_backoff=min_backoff, max_backoff=max_backoff,
        time_limit=time_limit,
    )  # fmt: skip
