"""Column types that differ between the two dialects, for revision scripts."""


def serial_pk(dialect: str, *, big: bool = False) -> str:
    if dialect == "postgres":
        return "BIGSERIAL NOT NULL PRIMARY KEY" if big else "SERIAL NOT NULL PRIMARY KEY"
    return "INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"


def timestamp(dialect: str) -> str:
    return "TIMESTAMPTZ" if dialect == "postgres" else "TIMESTAMP"
