revision = "t0004"
down_revision = "t0003"
description = "users, sign-in attempts, verification tokens, identity verification"


def upgrade(dialect: str) -> list[str]:
    return []


def downgrade(dialect: str) -> list[str]:
    return []
