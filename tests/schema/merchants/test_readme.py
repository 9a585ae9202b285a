"""The README's merchant state machine is the one the code enforces."""

from __future__ import annotations

from pathlib import Path

from schema.merchants.status import MerchantStatus, transition_table

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_shows_the_state_machine_the_code_enforces() -> None:
    table = transition_table()
    assert len(table.splitlines()) == len(MerchantStatus) + 2
    assert table in README.read_text(), (
        "regenerate it: .venv/bin/python -c 'from schema.merchants.status import "
        "transition_table; print(transition_table())' and paste it into README.md"
    )
