"""Money: integer minor units in storage, ``{amount, currency}`` in the API with the
amount a decimal string, never a float. Precision comes from babel's ISO 4217 data."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

import strawberry
from babel.numbers import get_currency_precision, list_currencies


class CurrencyError(ValueError):
    pass


@cache
def _currencies() -> frozenset[str]:
    """babel builds a new set of every code on each ``list_currencies()`` call (~5 us):
    too much for ``Money.from_minor`` on every row of a list."""
    return frozenset(list_currencies())


def check_currency(code: str) -> str:
    if code not in _currencies():
        raise CurrencyError(f"{code[:10]!r} is not an ISO 4217 currency code")
    return code


def minor_to_decimal(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-get_currency_precision(check_currency(currency)))


def decimal_to_minor(amount: Decimal, currency: str) -> int:
    """Refuses amounts with more decimals than the currency has (no silent rounding)."""
    scaled = amount.scaleb(get_currency_precision(check_currency(currency)))
    if scaled != scaled.to_integral_value():
        raise CurrencyError(f"{amount} has more decimals than {currency} allows")
    return int(scaled)


@strawberry.type(description="An amount of money in one currency.")
class Money:
    amount: Decimal = strawberry.field(description='Decimal amount as a string, e.g. "12.50".')
    currency: str = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def from_minor(cls, amount_minor: int, currency: str) -> Money:
        return cls(amount=minor_to_decimal(amount_minor, currency), currency=currency)


@strawberry.input(description="An amount of money in one currency.")
class MoneyInput:
    amount: Decimal = strawberry.field(description='Decimal amount as a string, e.g. "12.50".')
    currency: str = strawberry.field(description="ISO 4217 currency code.")
