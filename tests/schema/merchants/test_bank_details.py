"""Bank details: IBAN check digits, normalization, and what is kept in clear."""

from __future__ import annotations

import pytest

from schema.core.errors import FieldError
from schema.merchants.service.bank_details import (
    BankDetails,
    clean_bank_details,
    iban_checksum_ok,
)


@pytest.mark.parametrize(
    ("iban", "ok"),
    [
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765432", True),
        ("NL91ABNA0417164300", True),
        ("DE89370400440532013001", False),
        ("GB28WEST12345698765432", False),
    ],
)
def test_iban_check_digits(iban: str, ok: bool) -> None:
    assert iban_checksum_ok(iban) is ok


def test_details_are_normalized_and_only_the_last_four_shown() -> None:
    errors: list[FieldError] = []
    given = BankDetails(" Ada GmbH ", "nl", iban="nl91 abna-0417 1643 00")
    cleaned = clean_bank_details(given, errors)
    assert errors == []
    assert cleaned == BankDetails("Ada GmbH", "NL", "NL91ABNA0417164300", None, None)
    assert cleaned.last4 == "4300"


def test_overlong_input_is_refused_before_parsing() -> None:
    errors: list[FieldError] = []
    clean_bank_details(BankDetails("Ada", "DE", iban="DE" + "9" * 100), errors)
    assert [(e.field, e.code) for e in errors] == [(("bank_details", "iban"), "TOO_LONG")]
