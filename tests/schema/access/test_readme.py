"""The README's permission table and template list are the ones the code generates."""

from __future__ import annotations

from pathlib import Path

from schema.access.catalog import PERMISSIONS, permission_table
from schema.access.templates import TEMPLATES, template_table

README = Path(__file__).resolve().parents[3] / "README.md"
REGENERATE = (
    "regenerate it: .venv/bin/python -c 'from schema.access.{0} import {1}; print({1}())' "
    "and paste it into README.md"
)


def test_the_readme_lists_every_permission_as_the_catalog_does() -> None:
    table = permission_table()
    assert len(table.splitlines()) == len(PERMISSIONS) + 2
    assert table in README.read_text(), REGENERATE.format("catalog", "permission_table")


def test_the_readme_lists_the_templates_as_the_code_does() -> None:
    table = template_table()
    assert len(table.splitlines()) == len(TEMPLATES) + 2
    assert table in README.read_text(), REGENERATE.format("templates", "template_table")
