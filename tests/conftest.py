"""Fixtures shared by the whole suite.

Tests that take ``tenancy`` run once per backend: SQLite always, PostgreSQL when its
server answers (``SAAS_TEST_POSTGRES_URL``, default the local trust-auth server). A
missing PostgreSQL skips those runs on a laptop and fails them under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

import asyncpg
import pika
import pytest
import redis

from alembic_like import Track
from alembic_like.targets import quote_ident
from alembic_like.tenant import TRACK as TENANT_TRACK
from schema import TENANT_MODEL_MODULES, provision_hooks
from tenants.backends import TenantBackend
from tenants.config import TenancyConfig
from tenants.runtime import Tenancy

POSTGRES_URL = os.environ.get("SAAS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Without a database number: the worker tests lease one of their own (tests/workers).
REDIS_URL = os.environ.get("SAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379")
RABBITMQ_URL = os.environ.get("SAAS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


@cache
def postgres_available() -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def require_postgres() -> None:
    if postgres_available():
        return
    message = f"PostgreSQL is not reachable at {POSTGRES_URL}"
    if IN_CI:
        pytest.fail(message + " (CI must run the PostgreSQL tests)")
    pytest.skip(message)


@cache
def redis_available() -> bool:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except (OSError, redis.RedisError):
        return False
    return True


@cache
def rabbitmq_available() -> bool:
    params = pika.URLParameters(RABBITMQ_URL)
    params.socket_timeout = params.blocked_connection_timeout = 3
    try:
        pika.BlockingConnection(params).close()
    except (OSError, pika.exceptions.AMQPError):
        return False
    return True


def _require_service(available: bool, message: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(message + " (CI must run these tests)")
    pytest.skip(message)


def require_redis() -> None:
    _require_service(redis_available(), f"Redis is not reachable at {REDIS_URL}")


def require_rabbitmq() -> None:
    _require_service(rabbitmq_available(), f"RabbitMQ is not reachable at {RABBITMQ_URL}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dialect(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        require_postgres()
    return request.param


def make_tenancy_config(dialect: str, data_dir: Path, **overrides: object) -> TenancyConfig:
    """A config of its own per test: a fresh data dir, or a registry schema of its own."""
    return TenancyConfig(
        data_dir=data_dir,
        database_url=POSTGRES_URL if dialect == "postgres" else None,
        registry_schema=f"reg_{uuid.uuid4().hex[:12]}",
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def tenancy_config(dialect: str, tmp_path: Path) -> TenancyConfig:
    return make_tenancy_config(dialect, tmp_path / "var")


async def drop_postgres_leftovers(config: TenancyConfig, schema_names: list[str]) -> None:
    """Drop the tenants' schemas and the registry schema, in the config's own database."""
    conn = await asyncpg.connect(config.database_url or POSTGRES_URL)
    try:
        for name in [*schema_names, config.registry_schema]:
            await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
    finally:
        await conn.close()


@asynccontextmanager
async def running_tenancy(
    config: TenancyConfig,
    *,
    backend: TenantBackend | None = None,
    tenant_track: Track = TENANT_TRACK,
) -> AsyncIterator[Tenancy]:
    """A started runtime with the app's models and hooks, cleaned up afterwards (the
    ``tenancy`` fixture; for tests that need their own config, backend or tenant track)."""
    runtime = Tenancy(
        config,
        TENANT_MODEL_MODULES,
        provision_hooks=provision_hooks(),
        backend=backend,
        tenant_track=tenant_track,
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        schema_names = [t.schema_name for t in await runtime.registry.all()]
        await runtime.close()
        if config.dialect == "postgres":
            await drop_postgres_leftovers(config, schema_names)


@pytest.fixture
async def tenancy(tenancy_config: TenancyConfig) -> AsyncIterator[Tenancy]:
    async with running_tenancy(tenancy_config) as runtime:
        yield runtime
