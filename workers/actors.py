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
from typing import Any, TypedDict, Unpack

from tenants.outbox import QUEUES

JobFunction = Callable[..., Awaitable[Any]]


class PermanentJobError(Exception):
    """Raised by a job that can never succeed (a refused e-mail address): it becomes a
    dead letter at once instead of being retried."""


class ActorOptions(TypedDict, total=False):
    """What a declaration may set; what it leaves out takes its kind's default."""

    queue: str
    # True: the job's database effect and its "done" mark commit in one transaction, so a
    # redelivered job does its database work once. False: for long jobs or external
    # effects (a backup, an e-mail), which must be idempotent themselves.
    transactional: bool
    # True: the arguments carry a secret (a mailed link's token), erased from the outbox
    # row once the job is done. Kept until then: a retry needs them.
    secret_args: bool
    max_retries: int
    min_backoff: timedelta
    max_backoff: timedelta
    time_limit: timedelta


TENANT_DEFAULTS = ActorOptions(
    queue="default",
    transactional=True,
    secret_args=False,
    max_retries=8,
    min_backoff=timedelta(seconds=1),
    max_backoff=timedelta(minutes=5),
    time_limit=timedelta(minutes=2),
)
PLATFORM_DEFAULTS = ActorOptions(
    queue="maintenance",
    transactional=False,
    secret_args=False,
    max_retries=5,
    min_backoff=timedelta(seconds=5),
    max_backoff=timedelta(minutes=10),
    time_limit=timedelta(minutes=30),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorSpec:
    name: str
    fn: JobFunction
    platform: bool
    queue: str
    transactional: bool  # see ActorOptions
    secret_args: bool  # see ActorOptions
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
    name: str, *, platform: bool, options: ActorOptions
) -> Callable[[JobFunction], JobFunction]:
    unknown = options.keys() - ActorOptions.__annotations__.keys()
    if unknown:
        raise TypeError(f"actor {name}: unknown options {', '.join(sorted(unknown))}")
    chosen: ActorOptions = {**(PLATFORM_DEFAULTS if platform else TENANT_DEFAULTS), **options}
    if chosen["queue"] not in QUEUES:
        raise ValueError(f"actor {name}: unknown queue {chosen['queue']!r}")

    def declare(fn: JobFunction) -> JobFunction:
        if name in ACTORS and ACTORS[name].fn is not fn:
            raise ValueError(f"two actors are named {name!r}")
        ACTORS[name] = ActorSpec(name=name, fn=fn, platform=platform, **chosen)
        return fn

    return declare


def tenant_actor(
    name: str, **options: Unpack[ActorOptions]
) -> Callable[[JobFunction], JobFunction]:
    """A job that runs in the scope of the tenant whose outbox holds it (defaults:
    ``TENANT_DEFAULTS``)."""
    return _declare(name, platform=False, options=options)


def platform_actor(
    name: str, **options: Unpack[ActorOptions]
) -> Callable[[JobFunction], JobFunction]:
    """A job of no tenant, from the shared store's ``platform_job`` outbox (defaults:
    ``PLATFORM_DEFAULTS``)."""
    return _declare(name, platform=True, options=options)
