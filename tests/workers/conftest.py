"""Fixtures of the background-work tests: tenants, and the broker a test runs on.

``broker_url`` runs a test on each broker: the embedded StubBroker always, Redis and
RabbitMQ when they answer (skipped on a laptop without them, failed under ``CI=true``).
A test run leases a Redis database of its own (8-15), so parallel runs do not share
queues; RabbitMQ's queues are named after the actors' queues, so they are purged before
and after each test instead.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator

import pytest
import redis

from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tests.conftest import RABBITMQ_URL, REDIS_URL, require_rabbitmq, require_redis
from tests.tenants.helpers import create_tenants
from tests.workers.harness import clear_broker
from tests.workers.jobs import CALLS
from workers import scheduler
from workers.scheduler import Periodic

LEASED_DATABASES = range(8, 16)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://.../<n>``: a database no other test run uses while this one runs."""
    require_redis()
    leases = redis.Redis.from_url(REDIS_URL)
    for number in LEASED_DATABASES:
        key = f"saas-tests:redis-db:{number}"
        if leases.set(key, os.getpid(), nx=True, ex=3600):
            url = f"{REDIS_URL}/{number}"
            try:
                yield url
            finally:
                redis.Redis.from_url(url).flushdb()
                leases.delete(key)
            return
    pytest.fail(f"Redis databases {LEASED_DATABASES} are all leased by other test runs")


@pytest.fixture
def clean_redis(redis_url: str) -> Iterator[str]:
    """The run's Redis database, emptied before and after the test."""
    clear_broker(redis_url)
    yield redis_url
    clear_broker(redis_url)


@pytest.fixture(params=["embedded", "redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "redis":
        yield request.getfixturevalue("clean_redis")
    elif request.param == "rabbitmq":
        require_rabbitmq()
        clear_broker(RABBITMQ_URL)
        yield RABBITMQ_URL
        clear_broker(RABBITMQ_URL)
    else:
        yield None


@pytest.fixture(autouse=True)
def _forget_calls() -> Iterator[None]:
    CALLS.clear()
    yield
    CALLS.clear()


@pytest.fixture
async def two_tenants(tenancy: Tenancy) -> list[TenantRecord]:
    return await create_tenants(("acme", "globex"))


@pytest.fixture
def schedule_of(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], dict[str, Periodic]]:
    """The periodic jobs an actor module declares, alone in the scheduler's table for the
    test: another module's schedule (declared when an earlier test loaded it) must not be
    claimed by this test's ticks, nor this one's by later tests."""

    def declare(module: str) -> dict[str, Periodic]:
        monkeypatch.setattr(scheduler, "PERIODIC", {})
        importlib.import_module(module).declare_schedule()
        return dict(scheduler.PERIODIC)

    return declare
