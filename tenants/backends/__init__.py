"""Database backends: SQLite file per tenant (embedded) and PostgreSQL schema per tenant."""

from tenants.backends.base import SHARED_ALIAS, TENANT_ALIAS, TenantBackend
from tenants.config import TenancyConfig


def make_backend(config: TenancyConfig) -> TenantBackend:
    if config.database_url:
        from tenants.backends.postgres import PostgresBackend

        return PostgresBackend(
            config.database_url,
            config.registry_schema,
            config.pool_min_size,
            config.pool_max_size,
            config.max_open_tenants,
        )
    from tenants.backends.sqlite import SqliteBackend

    return SqliteBackend(config.data_dir, config.max_open_tenants)


__all__ = ["SHARED_ALIAS", "TENANT_ALIAS", "TenantBackend", "make_backend"]
