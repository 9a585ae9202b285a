"""Which backups to keep: the newest of each of the last N days, weeks and months that
have a backup (grandfather-father-son), and always the newest verified backup."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Retention:
    daily: int
    weekly: int
    monthly: int


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    taken_at: datetime
    verified: bool


Period = Callable[[datetime], Hashable]


def _day(at: datetime) -> Hashable:
    return at.astimezone(UTC).date()


def _week(at: datetime) -> Hashable:
    return at.astimezone(UTC).isocalendar()[:2]


def _month(at: datetime) -> Hashable:
    utc = at.astimezone(UTC)
    return utc.year, utc.month


def _newest_per_period(newest_first: Sequence[Candidate], count: int, period: Period) -> set[int]:
    chosen: dict[Hashable, int] = {}
    for candidate in newest_first:
        key = period(candidate.taken_at)
        if key in chosen:
            continue
        if len(chosen) == count:
            break
        chosen[key] = candidate.id
    return set(chosen.values())


def select_kept(candidates: Sequence[Candidate], retention: Retention) -> set[int]:
    newest_first = sorted(candidates, key=lambda c: (c.taken_at, c.id), reverse=True)
    kept: set[int] = set()
    for count, period in (
        (retention.daily, _day),
        (retention.weekly, _week),
        (retention.monthly, _month),
    ):
        kept |= _newest_per_period(newest_first, count, period)
    newest_verified = next((c.id for c in newest_first if c.verified), None)
    if newest_verified is not None:
        kept.add(newest_verified)
    return kept
