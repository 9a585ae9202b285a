"""A small, versioned migration engine with two tracks: ``shared`` (the tenant registry)
and ``tenant`` (every tenant's own schema).

It knows SQL dialects (``sqlite`` and ``postgres``) and nothing about the application:
revisions return SQL, targets apply it to one database file or one PostgreSQL schema in
one transaction, under a lock, recording the version inside that file or schema.
"""

from alembic_like.revision import Revision, Track, load_track
from alembic_like.targets import MigrationResult, PostgresTarget, SqliteTarget

__all__ = [
    "MigrationResult",
    "PostgresTarget",
    "Revision",
    "SqliteTarget",
    "Track",
    "load_track",
]
