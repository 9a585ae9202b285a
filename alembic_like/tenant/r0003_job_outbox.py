from alembic_like.sql import outbox_table_v1

revision = "t0003"
down_revision = "t0002"
description = "the tenant's job outbox"


def upgrade(dialect: str) -> list[str]:
    return outbox_table_v1("job_outbox", dialect)


def downgrade(dialect: str) -> list[str]:
    return ["DROP TABLE job_outbox"]
