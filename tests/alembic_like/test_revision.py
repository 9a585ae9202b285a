"""Tracks: a linear chain of revisions, ordered from base whatever order they are given in;
forks, strays and unknown revisions are errors; plans go up or down along the chain."""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from pathlib import Path
from types import ModuleType

import pytest

from alembic_like import Revision, Track, load_track
from alembic_like.revision import RevisionError, Step
from alembic_like.shared import TRACK as SHARED_TRACK
from alembic_like.tenant import TRACK as TENANT_TRACK


def rev(revision: str, down: str | None) -> Revision:
    return Revision(
        id=revision,
        down=down,
        description=f"revision {revision}",
        upgrade=lambda dialect: [f"-- up {revision} on {dialect}"],
        downgrade=lambda dialect: [f"-- down {revision} on {dialect}"],
    )


A, B, C = rev("a", None), rev("b", "a"), rev("c", "b")


def labels(steps: list[Step]) -> list[tuple[str, str, str | None]]:
    return [(s.direction, s.revision.id, s.lands_on) for s in steps]


def test_the_chain_is_ordered_from_base_whatever_the_input_order() -> None:
    track = Track("t", [C, A, B])

    assert [r.id for r in track.revisions] == ["a", "b", "c"]
    assert track.head == "c"
    assert [track.position(r) for r in (None, "a", "b", "c")] == [-1, 0, 1, 2]


def test_an_empty_track_has_no_head_and_nothing_to_do() -> None:
    track = Track("t", [])

    assert track.head is None
    assert track.resolve("head") is None
    assert track.plan(None, None) == []


@pytest.mark.parametrize(
    ("revisions", "message"),
    [
        ([A, B, rev("c2", "a")], "both follow 'a'"),  # a fork
        ([A, rev("z", None)], "both follow None"),  # two roots
        ([A, B, rev("x", "missing")], "not on the chain from base: x"),  # a stray
        ([A, rev("p", "q"), rev("q", "p")], "not on the chain from base: p, q"),  # a cycle
        ([B, C], "not on the chain from base: b, c"),  # no root
    ],
)
def test_a_fork_or_a_stray_revision_is_refused(revisions: list[Revision], message: str) -> None:
    with pytest.raises(RevisionError, match=message):
        Track("t", revisions)


def test_targets_resolve_to_revisions() -> None:
    track = Track("t", [A, B, C])

    assert track.resolve("head") == "c"
    assert track.resolve(None) == "c"
    assert track.resolve("base") is None
    assert track.resolve("b") == "b"


@pytest.mark.parametrize("target", ["zzz", "", "-1", "+1", "head-1"])
def test_an_unknown_or_relative_target_is_refused(target: str) -> None:
    track = Track("t", [A, B, C])

    with pytest.raises(RevisionError):
        track.resolve(target)
    with pytest.raises(RevisionError):
        track.plan(None, target)


def test_a_version_unknown_to_this_code_is_refused() -> None:
    with pytest.raises(RevisionError, match="newer release"):
        Track("t", [A, B]).plan("c", "b")


def test_plan_up_applies_the_missing_revisions_in_order() -> None:
    track = Track("t", [A, B, C])

    assert labels(track.plan(None, "c")) == [
        ("upgrade", "a", "a"),
        ("upgrade", "b", "b"),
        ("upgrade", "c", "c"),
    ]
    assert labels(track.plan("a", "c")) == [("upgrade", "b", "b"), ("upgrade", "c", "c")]
    assert track.plan("b", "b") == []
    assert track.plan(None, None) == []


def test_plan_down_reverts_in_reverse_order() -> None:
    track = Track("t", [A, B, C])

    assert labels(track.plan("c", None)) == [
        ("downgrade", "c", "b"),
        ("downgrade", "b", "a"),
        ("downgrade", "a", None),
    ]
    assert labels(track.plan("c", "b")) == [("downgrade", "c", "b")]


def test_a_step_returns_its_revisions_sql_for_a_dialect() -> None:
    [up] = Track("t", [A]).plan(None, "a")
    [down] = Track("t", [A]).plan("a", None)

    assert list(up.statements("postgres")) == ["-- up a on postgres"]
    assert list(down.statements("sqlite")) == ["-- down a on sqlite"]


def revision_modules(package: str) -> list[ModuleType]:
    """The revision modules of a package, in file name order (``r0001_...``, ``r0002_...``)."""
    path = importlib.import_module(package).__path__
    names = sorted(info.name for info in pkgutil.iter_modules(path) if info.name.startswith("r"))
    return [importlib.import_module(f"{package}.{name}") for name in names]


@pytest.mark.parametrize(
    ("track", "package"),
    [(TENANT_TRACK, "alembic_like.tenant"), (SHARED_TRACK, "alembic_like.shared")],
)
def test_the_project_tracks_load_every_module_in_file_order(track: Track, package: str) -> None:
    modules = revision_modules(package)

    assert modules, f"{package} has no revision modules"
    assert [r.id for r in track.revisions] == [m.revision for m in modules]
    assert [r.down for r in track.revisions] == [None, *(m.revision for m in modules[:-1])]
    assert track.head == modules[-1].revision


def test_the_project_tracks_have_sql_for_both_dialects() -> None:
    for track in (TENANT_TRACK, SHARED_TRACK):
        for revision in track.revisions:
            for dialect in ("sqlite", "postgres"):
                for statements in (revision.upgrade(dialect), revision.downgrade(dialect)):
                    assert statements, f"{revision.id} has no SQL for {dialect}"
                    assert all(isinstance(sql, str) and sql.strip() for sql in statements)


def write_package(root: Path, modules: dict[str, str]) -> str:
    name = f"revs_{uuid.uuid4().hex[:8]}"
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(source)
    return name


REVISION_SOURCE = """
revision = {id!r}
down_revision = {down!r}
def upgrade(dialect): return ["CREATE TABLE t{id} (x INT)"]
def downgrade(dialect): return ["DROP TABLE t{id}"]
"""


def test_load_track_reads_the_revision_modules_of_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = write_package(
        tmp_path,
        {
            "r0002_second": REVISION_SOURCE.format(id="x2", down="x1"),
            "r0001_first": REVISION_SOURCE.format(id="x1", down=None),
            "helpers": "VALUE = 1\n",  # not a revision module: ignored
        },
    )

    track = load_track("probe", package)

    assert [r.id for r in track.revisions] == ["x1", "x2"]
    assert [r.description for r in track.revisions] == ["", ""]
    assert list(track.revisions[1].upgrade("sqlite")) == ["CREATE TABLE tx2 (x INT)"]


def test_load_track_refuses_a_module_that_is_not_a_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = write_package(tmp_path, {"r0001_broken": "revision = 'x1'\n"})

    with pytest.raises(RevisionError, match="not a revision module"):
        load_track("probe", package)
