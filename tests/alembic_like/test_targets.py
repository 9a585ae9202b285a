"""Targets apply a plan in one transaction under a lock and record the version inside the
file or schema: two runners at once apply each revision exactly once, a failing revision
leaves nothing behind, and a missing SQLite file is never created."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from alembic_like import MigrationResult, PostgresTarget, Revision, SqliteTarget, Track
from alembic_like.revision import RevisionError
from alembic_like.targets import VERSION_TABLE
from alembic_like.tenant import TRACK
from tests.alembic_like.conftest import Workbench
from tests.tracks import HEAD, PREVIOUS, downgrade_steps, tables_at, upgrade_steps

TENANT_TABLES = tables_at(TRACK)
ALL_STEPS = upgrade_steps(TRACK.revisions)

# Long enough that the second runner arrives while the first one holds the lock.
SLOW_SQL = {
    "postgres": "SELECT pg_sleep(0.2)",
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000)"
    " SELECT count(*) FROM n",
}


def extra(revision: str, *statements: str, slow: bool = False) -> Revision:
    """A revision after the tenant track's head."""
    return Revision(
        id=revision,
        down=HEAD,
        description="test revision",
        upgrade=lambda dialect: [*([SLOW_SQL[dialect]] if slow else []), *statements],
        downgrade=lambda dialect: ["DROP TABLE runs"],
    )


COUNTED = Track(
    "tenant",
    [
        *TRACK.revisions,
        extra("x0003", "CREATE TABLE runs (n INT)", "INSERT INTO runs VALUES (1)", slow=True),
    ],
)
BROKEN = Track("tenant", [*TRACK.revisions, extra("x0003", "CREATE TABLE runs (n INT", "")])


async def test_migrate_from_base_to_head_and_back(workbench: Workbench) -> None:
    target = await workbench.target()

    up = await target.migrate(TRACK, TRACK.head)
    again = await target.migrate(TRACK, TRACK.head)

    assert up == MigrationResult(before=None, after=HEAD, applied=ALL_STEPS)
    assert again == MigrationResult(before=HEAD, after=HEAD, applied=[])
    assert await target.version(TRACK) == HEAD
    assert await workbench.tables() == {VERSION_TABLE, *TENANT_TABLES}

    down = await target.migrate(TRACK, None)

    assert down == MigrationResult(
        before=HEAD, after=None, applied=downgrade_steps(TRACK.revisions)
    )
    assert await target.version(TRACK) is None
    assert await workbench.tables() == {VERSION_TABLE}


async def test_the_version_is_recorded_per_track(workbench: Workbench) -> None:
    target = await workbench.target()
    await target.migrate(TRACK, PREVIOUS)

    assert await workbench.fetch(f"SELECT track, revision FROM {VERSION_TABLE}") == [
        ("tenant", PREVIOUS)
    ]
    assert await target.version(Track("other", [])) is None


async def test_two_runners_at_once_apply_each_revision_exactly_once(
    workbench: Workbench,
) -> None:
    first, second = await workbench.target(), await workbench.target()
    await first.migrate(COUNTED, PREVIOUS)  # the version table exists: nothing locks by chance

    results = await asyncio.gather(
        first.migrate(COUNTED, COUNTED.head), second.migrate(COUNTED, COUNTED.head)
    )

    applied = sorted((r.applied for r in results), key=len)
    assert applied == [[], [f"+{HEAD}", "+x0003"]]
    assert {(r.before, r.after) for r in results} == {(PREVIOUS, "x0003"), ("x0003", "x0003")}
    assert await workbench.fetch("SELECT count(*) FROM runs") == [(1,)]
    assert await workbench.tables() == {VERSION_TABLE, "runs", *TENANT_TABLES}


async def test_a_failing_revision_rolls_the_whole_plan_back(workbench: Workbench) -> None:
    target = await workbench.target()

    with pytest.raises(Exception, match=r"syntax|incomplete"):
        await target.migrate(BROKEN, BROKEN.head)

    assert await workbench.tables() == set()  # the version table too: one transaction
    assert await target.version(TRACK) is None
    assert (await target.migrate(TRACK, TRACK.head)).applied == ALL_STEPS


async def test_a_version_written_by_a_newer_release_is_refused(workbench: Workbench) -> None:
    target = await workbench.target()
    await target.migrate(COUNTED, COUNTED.head)

    with pytest.raises(RevisionError, match="x0003"):
        await target.migrate(TRACK, TRACK.head)

    assert await target.version(TRACK) == "x0003"
    assert "runs" in await workbench.tables()


async def test_a_missing_sqlite_file_is_an_error_and_is_never_created(tmp_path: Path) -> None:
    path = tmp_path / "t_missing.db"

    with pytest.raises(sqlite3.OperationalError):
        await SqliteTarget(path).migrate(TRACK, TRACK.head)
    with pytest.raises(sqlite3.OperationalError):
        await SqliteTarget(path).version(TRACK)

    assert not path.exists()


@pytest.mark.parametrize(
    "dialect", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_postgres_pins_the_schema_for_the_migration_only(workbench: Workbench) -> None:
    target = await workbench.target()
    assert isinstance(target, PostgresTarget)
    connection = target.connection
    path_before = await connection.fetchval("SHOW search_path")

    await target.migrate(TRACK, TRACK.head)

    assert await connection.fetchval("SHOW search_path") == path_before
    assert await workbench.tables() == {VERSION_TABLE, *TENANT_TABLES}
