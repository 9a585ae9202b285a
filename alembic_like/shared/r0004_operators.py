from alembic_like.sql import serial_pk, timestamp

revision = "s0004"
down_revision = "s0003"
description = "the platform operator's credentials"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    return [
        f"""CREATE TABLE platform_operator (
            id {serial_pk(dialect)},
            name VARCHAR(100) NOT NULL UNIQUE,
            status VARCHAR(16) NOT NULL,
            key_prefix VARCHAR(16) NOT NULL,
            key_hash VARCHAR(64) NOT NULL UNIQUE,
            created_at {ts} NOT NULL,
            created_by VARCHAR(200) NOT NULL,
            key_created_at {ts} NOT NULL,
            last_used_at {ts},
            disabled_at {ts})""",
    ]


def downgrade(dialect: str) -> list[str]:
    return ["DROP TABLE platform_operator"]
