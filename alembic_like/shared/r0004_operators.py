revision = "s0004"
down_revision = "s0003"
description = "the platform operator's credentials"


def upgrade(dialect: str) -> list[str]:
    return []


def downgrade(dialect: str) -> list[str]:
    return []
