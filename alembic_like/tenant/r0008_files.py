from alembic_like.sql import serial_pk, timestamp

revision = "t0008"
down_revision = "t0007"
description = "stored files: what was uploaded, under which store key"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    boolean = "BOOL" if dialect == "postgres" else "INT"
    return [
        f"""CREATE TABLE stored_file (
            id {serial_pk(dialect)},
            key VARCHAR(32) NOT NULL UNIQUE,
            purpose VARCHAR(64) NOT NULL,
            filename VARCHAR(255) NOT NULL,
            media_type VARCHAR(100) NOT NULL,
            size BIGINT NOT NULL,
            sha256 VARCHAR(64) NOT NULL,
            public {boolean} NOT NULL,
            uploaded_by VARCHAR(200) NOT NULL,
            created_at {ts} NOT NULL,
            deleted_at {ts})""",
    ]


def downgrade(dialect: str) -> list[str]:
    return ["DROP TABLE stored_file"]
