"""Revisions and tracks.

A revision module defines ``revision``, ``down_revision``, ``description`` and the two
functions ``upgrade(dialect)`` and ``downgrade(dialect)``, each returning the SQL
statements to run. Returning SQL instead of running it keeps revisions pure: the engine
decides the transaction, the lock and the version bookkeeping.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

Statements = Callable[[str], Sequence[str]]


class RevisionError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Revision:
    id: str
    down: str | None
    description: str
    upgrade: Statements
    downgrade: Statements


@dataclass(frozen=True, slots=True)
class Step:
    revision: Revision
    direction: str  # "upgrade" or "downgrade"

    def statements(self, dialect: str) -> Sequence[str]:
        return getattr(self.revision, self.direction)(dialect)

    @property
    def lands_on(self) -> str | None:
        """The version recorded once this step is applied."""
        return self.revision.id if self.direction == "upgrade" else self.revision.down


class Track:
    """An ordered, linear chain of revisions."""

    def __init__(self, name: str, revisions: Sequence[Revision]) -> None:
        self.name = name
        self.revisions = _chain(name, revisions)
        self._index = {rev.id: i for i, rev in enumerate(self.revisions)}

    @property
    def head(self) -> str | None:
        return self.revisions[-1].id if self.revisions else None

    def position(self, revision: str | None) -> int:
        """-1 for an empty schema, else the revision's index."""
        if revision is None:
            return -1
        try:
            return self._index[revision]
        except KeyError:
            raise RevisionError(
                f"{self.name}: revision {revision!r} is unknown to this code "
                "(written by a newer release?)"
            ) from None

    def resolve(self, target: str | None) -> str | None:
        """Accept a revision id, ``head`` (or None) or ``base``."""
        if target is None or target == "head":
            return self.head
        if target == "base":
            return None
        if target.startswith(("-", "+")):
            # One target serves a whole fleet whose schemas may be at different revisions,
            # so "N steps from the current one" has no single meaning: name the revision.
            raise RevisionError(
                f"{self.name}: relative target {target!r} is not supported: "
                "name a revision, 'head' or 'base'"
            )
        self.position(target)
        return target

    def plan(self, current: str | None, target: str | None) -> list[Step]:
        start, end = self.position(current), self.position(target)
        if end >= start:
            return [Step(rev, "upgrade") for rev in self.revisions[start + 1 : end + 1]]
        return [Step(rev, "downgrade") for rev in reversed(self.revisions[end + 1 : start + 1])]


def _chain(name: str, revisions: Sequence[Revision]) -> list[Revision]:
    by_down: dict[str | None, Revision] = {}
    for rev in revisions:
        if rev.down in by_down:
            raise RevisionError(
                f"{name}: {by_down[rev.down].id} and {rev.id} both follow {rev.down!r}"
            )
        by_down[rev.down] = rev
    ordered: list[Revision] = []
    cursor: str | None = None
    while cursor in by_down:
        rev = by_down.pop(cursor)
        ordered.append(rev)
        cursor = rev.id
    if by_down:
        stray = ", ".join(sorted(r.id for r in by_down.values()))
        raise RevisionError(f"{name}: revisions not on the chain from base: {stray}")
    return ordered


def _from_module(module: ModuleType) -> Revision:
    try:
        return Revision(
            id=module.revision,
            down=module.down_revision,
            description=getattr(module, "description", ""),
            upgrade=module.upgrade,
            downgrade=module.downgrade,
        )
    except AttributeError as exc:
        raise RevisionError(f"{module.__name__} is not a revision module: {exc}") from exc


def load_track(name: str, package: str) -> Track:
    """Load every revision module of ``package`` (modules named ``r<NNNN>_*``)."""
    pkg = importlib.import_module(package)
    modules = [
        importlib.import_module(f"{package}.{info.name}")
        for info in pkgutil.iter_modules(pkg.__path__)
        if info.name.startswith("r")
    ]
    return Track(name, [_from_module(m) for m in modules])
