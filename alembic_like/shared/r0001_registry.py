from alembic_like.sql import serial_pk, timestamp

revision = "s0001"
down_revision = None
description = "tenant registry: tenants, domains, lifecycle events, registry generation"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    return [
        f"""CREATE TABLE tenant (
            id VARCHAR(26) NOT NULL PRIMARY KEY,
            slug VARCHAR(63) NOT NULL UNIQUE,
            display_name VARCHAR(200) NOT NULL,
            status VARCHAR(16) NOT NULL,
            status_reason TEXT,
            schema_name VARCHAR(63) NOT NULL UNIQUE,
            schema_version VARCHAR(64),
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            suspended_at {ts})""",
        "CREATE INDEX idx_tenant_schema_version ON tenant (schema_version)",
        f"""CREATE TABLE tenant_domain (
            id {serial_pk(dialect)},
            domain VARCHAR(253) NOT NULL UNIQUE,
            created_at {ts} NOT NULL,
            tenant_id VARCHAR(26) NOT NULL REFERENCES tenant (id) ON DELETE CASCADE)""",
        f"""CREATE TABLE tenant_event (
            id {serial_pk(dialect, big=True)},
            tenant_id VARCHAR(26) NOT NULL,
            slug VARCHAR(63) NOT NULL,
            action VARCHAR(32) NOT NULL,
            actor VARCHAR(200) NOT NULL,
            reason TEXT,
            at {ts} NOT NULL)""",
        "CREATE INDEX idx_tenant_event_tenant ON tenant_event (tenant_id)",
        f"CREATE TABLE registry_state (id {serial_pk(dialect)}, generation BIGINT NOT NULL)",
        "INSERT INTO registry_state (id, generation) VALUES (1, 0)",
    ]


def downgrade(dialect: str) -> list[str]:
    return [
        "DROP TABLE registry_state",
        "DROP TABLE tenant_event",
        "DROP TABLE tenant_domain",
        "DROP TABLE tenant",
    ]
