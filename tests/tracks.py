"""What the tests know of the project's tenant track, derived from the track itself, so
that adding a revision breaks no test.

A test that needs a revision creating a known object (to make one tenant's upgrade fail,
to count how often a revision ran, to see what one step down removes) runs on
``PROBED_TRACK``: the real revisions and, on top of the real head, ``PROBE``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from alembic_like import Revision, Track
from alembic_like.tenant import TRACK

HEAD = TRACK.head
PREVIOUS = TRACK.revisions[-2].id  # one step below head

# What PROBE creates: a table with one row per time its upgrade ran.
PROBE_TABLE = "migration_probe"
PROBE = Revision(
    id="xprobe",
    down=HEAD,
    description="test revision on top of the real head",
    upgrade=lambda dialect: [
        f"CREATE TABLE {PROBE_TABLE} (n INT NOT NULL)",
        f"INSERT INTO {PROBE_TABLE} (n) VALUES (1)",
    ],
    downgrade=lambda dialect: [f"DROP TABLE {PROBE_TABLE}"],
)
PROBED_TRACK = Track(TRACK.name, [*TRACK.revisions, PROBE])


def upgrade_steps(revisions: Sequence[Revision]) -> list[str]:
    """How a report lists these revisions applied from the first to the last."""
    return [f"+{r.id}" for r in revisions]


def downgrade_steps(revisions: Sequence[Revision]) -> list[str]:
    """How a report lists these revisions reverted, from the last to the first."""
    return [f"-{r.id}" for r in reversed(revisions)]


def tables_at(track: Track = TRACK, revision: str | None = None) -> set[str]:
    """The tables a schema holds at ``revision`` (default: head) of ``track``, found by
    running the revisions' own SQLite SQL on a scratch in-memory database, without the
    engine under test."""
    last = track.position(revision or track.head)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for rev in track.revisions[: last + 1]:
            for sql in rev.upgrade("sqlite"):
                conn.execute(sql)
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        return {name for (name,) in conn.execute(query)}
    finally:
        conn.close()
