"""Country codes: ISO 3166-1 alpha-2, from babel's CLDR data (no list of our own to keep
up to date).

CLDR's territories are ISO 3166-1's 249 countries plus codes ISO does not assign to a
country: exceptionally reserved areas (AC, CP, CQ, DG, EA, IC, TA), groupings (EU, EZ,
UN) and private-use codes CLDR gives a meaning (QO, XA, XB, XK, ZZ). Those are left out.
"""

from __future__ import annotations

from functools import cache

from babel.core import Locale

NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "IC", "TA", "EU", "EZ", "UN", "QO", "XA", "XB", "XK", "ZZ"}
)


@cache
def countries() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code."""
    territories = Locale("en").territories
    return (
        frozenset(code for code in territories if len(code) == 2 and code.isalpha()) - NOT_COUNTRIES
    )


def is_country(code: str) -> bool:
    return code in countries()
