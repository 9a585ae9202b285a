"""Which backups retention keeps, on synthetic dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.backups.retention import Candidate, Retention, select_kept

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)  # a Monday


def daily_backups(days: int, *, verified: bool = True) -> list[Candidate]:
    """One backup a day at 02:00, the newest today, ids counting down with age."""
    return [
        Candidate(
            id=days - age, taken_at=NOW.replace(hour=2) - timedelta(days=age), verified=verified
        )
        for age in range(days)
    ]


def taken(candidates: list[Candidate], ids: set[int]) -> list[str]:
    return sorted(c.taken_at.date().isoformat() for c in candidates if c.id in ids)


def test_the_newest_of_each_of_the_last_days_weeks_and_months_are_kept() -> None:
    backups = daily_backups(400)
    kept = select_kept(backups, Retention(daily=7, weekly=4, monthly=12))

    days = [f"2025-06-{d}" for d in range(24, 31)]  # the last 7 days
    # Four ISO weeks: this one's and last one's newest are among the days already.
    sundays = ["2025-06-15", "2025-06-22"]
    month_ends = [
        "2024-07-31", "2024-08-31", "2024-09-30", "2024-10-31", "2024-11-30", "2024-12-31",
        "2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31",
    ]  # fmt: skip
    assert taken(backups, kept) == sorted(days + sundays + month_ends)
    assert len(kept) == 7 + 2 + 11  # this month's newest is today's


def test_several_backups_a_day_keep_only_the_newest_of_each_day() -> None:
    backups = [
        Candidate(1, NOW.replace(hour=1), True),
        Candidate(2, NOW.replace(hour=9), True),
        Candidate(3, NOW.replace(hour=11), False),
        Candidate(4, NOW - timedelta(days=1), True),
    ]

    assert select_kept(backups, Retention(daily=2, weekly=0, monthly=0)) == {3, 4, 2}


def test_the_newest_verified_backup_is_kept_whatever_its_age() -> None:
    unverified = daily_backups(10, verified=False)
    verified_long_ago = Candidate(999, NOW - timedelta(days=200), True)

    kept = select_kept([*unverified, verified_long_ago], Retention(daily=3, weekly=0, monthly=0))

    assert 999 in kept
    assert len(kept) == 4


def test_zero_retention_keeps_only_the_newest_verified() -> None:
    backups = daily_backups(5)
    assert select_kept(backups, Retention(0, 0, 0)) == {5}
    assert select_kept(daily_backups(5, verified=False), Retention(0, 0, 0)) == set()


def test_gaps_do_not_count_as_days() -> None:
    """Seven daily places are the last seven days that have a backup, not calendar days."""
    sparse = [Candidate(n, NOW - timedelta(days=10 * n), False) for n in range(10)]
    assert select_kept(sparse, Retention(daily=7, weekly=0, monthly=0)) == set(range(7))
