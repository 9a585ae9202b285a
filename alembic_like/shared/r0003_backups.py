from alembic_like.sql import serial_pk, timestamp

revision = "s0003"
down_revision = "s0002"
description = "backups: one row per backup of a tenant or the registry, per-tenant policies"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    return [
        f"""CREATE TABLE backup (
            id {serial_pk(dialect, big=True)},
            tenant_id VARCHAR(26),
            slug VARCHAR(63),
            kind VARCHAR(16) NOT NULL,
            status VARCHAR(16) NOT NULL,
            verify_status VARCHAR(16) NOT NULL,
            verify_attempts INT NOT NULL,
            verified_at {ts},
            verify_error TEXT,
            engine VARCHAR(16) NOT NULL,
            source_schema VARCHAR(63) NOT NULL,
            store_key VARCHAR(255) NOT NULL UNIQUE,
            key_id VARCHAR(64) NOT NULL,
            schema_version VARCHAR(64),
            raw_size BIGINT,
            stored_size BIGINT,
            checksum VARCHAR(64),
            row_counts TEXT,
            requested_by VARCHAR(200) NOT NULL,
            request_key VARCHAR(200) UNIQUE,
            error TEXT,
            created_at {ts} NOT NULL,
            started_at {ts} NOT NULL,
            finished_at {ts})""",
        "CREATE INDEX idx_backup_tenant ON backup (tenant_id, status, started_at)",
        "CREATE INDEX idx_backup_verify ON backup (status, verify_status)",
        f"""CREATE TABLE backup_policy (
            tenant_id VARCHAR(26) NOT NULL PRIMARY KEY,
            interval_hours DOUBLE PRECISION,
            keep_daily INT,
            keep_weekly INT,
            keep_monthly INT,
            updated_at {ts} NOT NULL,
            updated_by VARCHAR(200) NOT NULL)""",
    ]


def downgrade(dialect: str) -> list[str]:
    return ["DROP TABLE backup_policy", "DROP TABLE backup"]
