revision = "t0002"
down_revision = "t0001"
description = "index the settings change log by time, for the newest-first history"


def upgrade(dialect: str) -> list[str]:
    return ["CREATE INDEX idx_settings_change_changed_at ON settings_change (changed_at)"]


def downgrade(dialect: str) -> list[str]:
    return ["DROP INDEX idx_settings_change_changed_at"]
