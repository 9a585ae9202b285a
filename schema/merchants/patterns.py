"""Registration-number patterns: the tenant writes them, applicants' input runs against
them. They are matched with RE2, whose time is linear in the input whatever the pattern:
Python's ``re`` backtracks, and a pattern as plain as ``([A-Z0-9]+)+`` would take days on
a 64-character number while holding the GIL of a process that serves every tenant. RE2
refuses what it cannot match in linear time (backreferences, lookaround), so such a
pattern is refused when the standards are changed, never met at submission.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a tenant's typo is a typed error, not a line on stderr


class PatternError(ValueError):
    """Not a pattern RE2 accepts."""


@lru_cache(maxsize=256)
def compiled(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except (re2.error, ValueError, OverflowError) as exc:
        raise PatternError(str(exc.args[0] if exc.args else exc)) from None


def matches(pattern: str, value: str) -> bool:
    """Whether all of ``value`` matches ``pattern`` (a stored pattern: compiled before)."""
    return compiled(pattern).fullmatch(value) is not None
