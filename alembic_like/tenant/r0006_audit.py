revision = "t0006"
down_revision = "t0005"
description = "the hash-chained audit trail"


def upgrade(dialect: str) -> list[str]:
    return []


def downgrade(dialect: str) -> list[str]:
    return []
