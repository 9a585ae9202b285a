revision = "t0005"
down_revision = "t0004"
description = "roles, role permissions, role assignments, access reviews"


def upgrade(dialect: str) -> list[str]:
    return []


def downgrade(dialect: str) -> list[str]:
    return []
