"""Column types that differ between the two dialects, for revision scripts."""


def serial_pk(dialect: str, *, big: bool = False) -> str:
    if dialect == "postgres":
        return "BIGSERIAL NOT NULL PRIMARY KEY" if big else "SERIAL NOT NULL PRIMARY KEY"
    return "INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"


def timestamp(dialect: str) -> str:
    return "TIMESTAMPTZ" if dialect == "postgres" else "TIMESTAMP"


def outbox_table_v1(name: str, dialect: str) -> list[str]:
    """The outbox row shape as first released (``job_outbox`` in each tenant's store,
    ``platform_job`` in the shared one). Revisions are history: never edit this, write
    a new revision that alters the tables."""
    ts = timestamp(dialect)
    return [
        f"""CREATE TABLE {name} (
            id {serial_pk(dialect, big=True)},
            actor VARCHAR(100) NOT NULL,
            queue VARCHAR(32) NOT NULL,
            args TEXT NOT NULL,
            status VARCHAR(16) NOT NULL,
            dedupe_key VARCHAR(200) UNIQUE,
            attempts INT NOT NULL,
            not_before {ts} NOT NULL,
            created_at {ts} NOT NULL,
            sent_at {ts},
            done_at {ts},
            last_error TEXT)""",
        f"CREATE INDEX idx_{name}_due ON {name} (status, not_before)",
    ]
