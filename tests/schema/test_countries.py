"""ISO 3166-1 alpha-2 codes from CLDR, without its codes for what is not a country."""

from __future__ import annotations

from schema.core.countries import countries, is_country


def test_exactly_the_249_iso_codes() -> None:
    assert len(countries()) == 249
    assert all(is_country(code) for code in ("DE", "GB", "US", "AQ", "SS", "BQ"))
    assert not any(is_country(code) for code in ("EU", "UN", "XK", "ZZ", "UK", "de", "DEU"))
