"""What every benchmark suite shares: timing, process memory and the results table.

A row compares a measured cost with a reference measured in the same run on the same
machine (a shared, noisy machine makes absolute times mean little; the ratio travels
better), and checks it against a target when there is one.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Op = Callable[[int], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Target:
    label: str
    check: Callable[[Row], bool]


def max_ms_per_op(limit: float, label: str | None = None) -> Target:
    return Target(label or f"<= {limit:g} ms/op", lambda row: row.ms_per_op <= limit)


def max_total_s(limit: float, *, strict: bool = False) -> Target:
    if strict:
        return Target(f"< {limit:g} s", lambda row: row.total_s < limit)
    return Target(f"<= {limit:g} s", lambda row: row.total_s <= limit)


def holds(label: str, passed: bool) -> Target:
    """A target decided by the caller (one that is not about time)."""
    return Target(label, lambda _row: passed)


@dataclass(frozen=True, slots=True)
class Row:
    what: str
    n: int  # the size the row is about (tenants)
    total_s: float
    ops: int  # how many operations total_s covers
    ref_ms: float | None = None  # the reference cost of one operation
    target: Target | None = None
    detail: str = ""

    @property
    def ms_per_op(self) -> float:
        return self.total_s * 1000 / max(1, self.ops)

    @property
    def ratio(self) -> float | None:
        return self.ms_per_op / self.ref_ms if self.ref_ms else None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "info"
        return "PASS" if self.target.check(self) else "FAIL"


COLUMNS = ("what", "n", "total s", "ms/op", "ref ms/op", "ratio", "target", "result", "detail")


def _cells(row: Row) -> tuple[str, ...]:
    return (
        row.what,
        f"{row.n:,}",
        f"{row.total_s:.3f}",
        f"{row.ms_per_op:.3f}",
        "-" if row.ref_ms is None else f"{row.ref_ms:.3f}",
        "-" if row.ratio is None else f"{row.ratio:.1f}x",
        row.target.label if row.target else "-",
        row.verdict,
        row.detail,
    )


def format_table(rows: Sequence[Row]) -> str:
    table = [COLUMNS, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    numeric = {1, 2, 3, 4, 5}

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return " | ".join(padded).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(COLUMNS), rule, *(line(cells) for cells in table[1:])])


def format_row(row: Row) -> str:
    """One row as a progress line, printed as soon as it is measured."""
    ratio = "" if row.ratio is None else f", ref {row.ref_ms:.3f} ms/op, ratio {row.ratio:.1f}x"
    target = f" [{row.target.label}: {row.verdict}]" if row.target else ""
    detail = f" ({row.detail})" if row.detail else ""
    return (
        f"  {row.what}, n={row.n:,}: {row.total_s:.3f} s, {row.ms_per_op:.3f} ms/op"
        f"{ratio}{target}{detail}"
    )


async def run_many(count: int, parallel: int, op: Op) -> float:
    """Run ``op(0) .. op(count - 1)`` on ``parallel`` workers (coroutines of one event loop
    that each take the next index), so at most ``parallel`` are in flight; return the
    seconds. Workers rather than a task per operation: 10,000 pending tasks would weigh
    in the memory that some benchmarks measure."""
    start = time.perf_counter()
    indices = iter(range(count))

    async def worker() -> None:
        for i in indices:
            await op(i)

    await asyncio.gather(*(worker() for _ in range(max(1, min(parallel, count)))))
    return time.perf_counter() - start


async def median_s(repeat: int, call: Callable[[], Awaitable[object]]) -> float:
    """The median duration of ``repeat`` calls, after one untimed warm-up call."""
    await call()
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def rss_mb() -> float:
    """Resident memory of this process (VmRSS), after a full collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")
