"""``saas keys``, run in-process through its parser as the ``saas`` command runs it."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from saas.app import make_tenancy
from saas.config import Settings, load_settings
from saas.oauth.cli import add_parser, run
from tenants.provisioning import create_tenant
from tests.conftest import POSTGRES_URL, drop_postgres_leftovers
from tests.saas.harness import TEST_SECRET_KEY


@pytest.fixture
def settings(dialect: str, tmp_path: Path) -> Iterator[Settings]:
    settings = load_settings({
        "SAAS_DATA_DIR": str(tmp_path / "var"),
        "SAAS_DATABASE_URL": POSTGRES_URL if dialect == "postgres" else "",
        "SAAS_REGISTRY_SCHEMA": f"reg_{uuid.uuid4().hex[:12]}",
        "SAAS_SECRET_KEY": TEST_SECRET_KEY,
    })  # fmt: skip
    asyncio.run(_create(settings, "acme", "globex"))
    yield settings
    if dialect == "postgres":
        asyncio.run(_drop_all(settings))


async def _create(settings: Settings, *slugs: str) -> None:
    async with make_tenancy(settings):
        for slug in slugs:
            await create_tenant(slug, slug.title(), actor="test")


async def _drop_all(settings: Settings) -> None:
    async with make_tenancy(settings) as tenancy:
        names = [t.schema_name for t in await tenancy.registry.all()]
    await drop_postgres_leftovers(settings.tenancy(), names)


def saas_keys(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="saas")
    add_parser(parser.add_subparsers(dest="command", required=True))
    assert run(settings, parser.parse_args(["keys", *argv])) == 0
    return capsys.readouterr().out


def keys_of(
    settings: Settings, capsys: pytest.CaptureFixture[str], slug: str
) -> list[dict[str, str]]:
    return json.loads(saas_keys(settings, capsys, "list", "--tenant", slug, "--json"))


def test_rotate_publishes_then_forced_promotes(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    [first] = keys_of(settings, capsys, "acme")
    assert first["state"] == "current"
    out = saas_keys(settings, capsys, "rotate", "--tenant", "acme")
    [_, upcoming] = keys_of(settings, capsys, "acme")
    assert out == f"acme: {upcoming['kid']} published as next\n"
    assert upcoming["state"] == "next"
    assert saas_keys(settings, capsys, "rotate", "--tenant", "acme") == "acme: nothing due\n"

    out = saas_keys(settings, capsys, "rotate", "--tenant", "acme", "--force")
    keys = keys_of(settings, capsys, "acme")
    assert [k["state"] for k in keys] == ["retired", "current", "next"]
    assert out.startswith(f"acme: {upcoming['kid']} now signs ({first['kid']} retired); ")
    assert keys[0]["remove_after"] is not None
    listing = saas_keys(settings, capsys, "list", "--tenant", "acme")
    assert first["kid"] in listing
    assert "retired" in listing


def test_rotate_all_turns_every_active_tenant(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    out = saas_keys(settings, capsys, "rotate", "--all").splitlines()
    assert sorted(line.split(":")[0] for line in out) == ["acme", "globex"]
    assert all(line.endswith("published as next") for line in out)
    assert [k["state"] for k in keys_of(settings, capsys, "globex")] == ["current", "next"]
