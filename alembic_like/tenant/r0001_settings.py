from alembic_like.sql import serial_pk, timestamp

revision = "t0001"
down_revision = None
description = "tenant settings and their change log"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    return [
        f"""CREATE TABLE tenant_settings (
            id {serial_pk(dialect)},
            name VARCHAR(200) NOT NULL,
            locale VARCHAR(35) NOT NULL,
            currency VARCHAR(3) NOT NULL,
            time_zone VARCHAR(64) NOT NULL,
            version INT NOT NULL,
            updated_at {ts} NOT NULL)""",
        f"""CREATE TABLE settings_change (
            id {serial_pk(dialect)},
            field VARCHAR(32) NOT NULL,
            old_value TEXT,
            new_value TEXT NOT NULL,
            actor VARCHAR(200) NOT NULL,
            reason TEXT,
            changed_at {ts} NOT NULL)""",
    ]


def downgrade(dialect: str) -> list[str]:
    return ["DROP TABLE settings_change", "DROP TABLE tenant_settings"]
