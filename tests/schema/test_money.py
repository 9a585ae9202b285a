"""Money: integer minor units in storage, a decimal string in the API, precision from
babel's ISO 4217 data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schema.core.engine import GraphQLRequest
from schema.core.money import CurrencyError, check_currency, decimal_to_minor, minor_to_decimal
from tests.schema.toy import ToyContext, toy_engine

CASES = [  # minor units, currency, decimal string
    (1250, "USD", "12.50"),
    (-5, "USD", "-0.05"),
    (0, "EUR", "0.00"),
    (1250, "JPY", "1250"),
    (1250, "BHD", "1.250"),
    (1, "BHD", "0.001"),
]


@pytest.mark.parametrize(("minor", "currency", "text"), CASES)
def test_minor_units_and_decimals_round_trip(minor: int, currency: str, text: str) -> None:
    amount = minor_to_decimal(minor, currency)
    assert str(amount) == text
    assert decimal_to_minor(amount, currency) == minor
    assert decimal_to_minor(Decimal(text), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.5", "USD", 1250), ("1E+2", "USD", 10000), ("7", "JPY", 7), ("1.25", "BHD", 1250)],
)
def test_fewer_decimals_than_the_currency_are_scaled(
    amount: str, currency: str, minor: int
) -> None:
    assert decimal_to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"), [("12.505", "USD"), ("1.5", "JPY"), ("0.0001", "BHD")]
)
def test_more_decimals_than_the_currency_allows_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(CurrencyError, match=f"{amount} has more decimals than {currency} allows"):
        decimal_to_minor(Decimal(amount), currency)


@pytest.mark.parametrize("code", ["ABC", "usd", "EURO", "", "US"])
def test_unknown_currency_is_refused(code: str) -> None:
    with pytest.raises(CurrencyError, match="is not an ISO 4217 currency code"):
        check_currency(code)
    with pytest.raises(CurrencyError):
        minor_to_decimal(100, code)
    with pytest.raises(CurrencyError):
        decimal_to_minor(Decimal(1), code)


@pytest.mark.parametrize(("minor", "currency", "text"), CASES)
async def test_graphql_serializes_the_amount_as_a_string(
    minor: int, currency: str, text: str
) -> None:
    query = "query P($m: Int!, $c: String!) { price(minor: $m, currency: $c) { amount currency } }"
    request = GraphQLRequest(query, {"m": minor, "c": currency})
    response = await toy_engine().run(request, ToyContext("req"))
    assert response.payload["data"] == {"price": {"amount": text, "currency": currency}}
