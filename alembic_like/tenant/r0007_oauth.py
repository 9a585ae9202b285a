revision = "t0007"
down_revision = "t0006"
description = "OAuth clients, authorization codes, refresh-token families, signing keys"


def upgrade(dialect: str) -> list[str]:
    return []


def downgrade(dialect: str) -> list[str]:
    return []
