from alembic_like.sql import serial_pk, timestamp

revision = "t0009"
down_revision = "t0008"
description = "Idempotency keys of creating and money-moving mutations"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    return [
        f"""CREATE TABLE idempotency_key (
            id {serial_pk(dialect, big=True)},
            subject VARCHAR(200) NOT NULL,
            operation VARCHAR(100) NOT NULL,
            key VARCHAR(200) NOT NULL,
            request_hash VARCHAR(64) NOT NULL,
            claim_token VARCHAR(32) NOT NULL,
            status VARCHAR(16) NOT NULL,
            response TEXT,
            created_at {ts} NOT NULL,
            completed_at {ts},
            CONSTRAINT uq_idempotency_key UNIQUE (subject, operation, key))""",
        "CREATE INDEX idx_idempotency_key_created ON idempotency_key (created_at)",
    ]


def downgrade(dialect: str) -> list[str]:
    return ["DROP TABLE idempotency_key"]
