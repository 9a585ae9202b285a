from alembic_like.sql import outbox_table_v1, serial_pk, timestamp

revision = "s0002"
down_revision = "s0001"
description = "platform jobs, outbox hints and dead letters"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    return [
        *outbox_table_v1("platform_job", dialect),
        f"""CREATE TABLE outbox_hint (
            tenant_id VARCHAR(26) NOT NULL PRIMARY KEY,
            hinted_at {ts} NOT NULL)""",
        f"""CREATE TABLE dead_letter (
            id {serial_pk(dialect, big=True)},
            tenant_id VARCHAR(26),
            slug VARCHAR(63),
            job_id BIGINT NOT NULL,
            actor VARCHAR(100) NOT NULL,
            queue VARCHAR(32) NOT NULL,
            error TEXT NOT NULL,
            attempts INT NOT NULL,
            failed_at {ts} NOT NULL,
            retried_at {ts},
            retried_by VARCHAR(200))""",
        "CREATE INDEX idx_dead_letter_open ON dead_letter (retried_at, failed_at)",
    ]


def downgrade(dialect: str) -> list[str]:
    return ["DROP TABLE dead_letter", "DROP TABLE outbox_hint", "DROP TABLE platform_job"]
