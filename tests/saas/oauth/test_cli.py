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
from saas.oauth import clients_cli
from saas.oauth.cli import add_parser, run
from schema.oauth.grants import digest
from schema.oauth.models import ClientKind, OAuthClient
from tenants.provisioning import create_tenant
from tenants.scope import tenant_scope
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


def saas_clients(
    settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="saas")
    clients_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    code = clients_cli.run(settings, parser.parse_args(["clients", "create", *argv]))
    return code, capsys.readouterr().out


async def _client(settings: Settings, slug: str, client_id: str) -> OAuthClient | None:
    async with make_tenancy(settings) as tenancy:
        tenant = await tenancy.registry.by_slug(slug)
        async with tenant_scope(tenant):
            return await OAuthClient.get_or_none(client_id=client_id)


def test_the_first_client_is_made_from_the_command_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = saas_clients(
        settings, capsys, "--tenant", "acme", "--name", "Back office", "--kind", "confidential",
        "--grant", "client_credentials", "--scope", "settings:*",
    )  # fmt: skip
    assert code == 0
    printed = json.loads(out)
    row = asyncio.run(_client(settings, "acme", printed["client_id"]))
    assert row is not None
    assert (row.name, row.kind, row.scopes) == (
        "Back office",
        ClientKind.CONFIDENTIAL,
        ["settings:*"],
    )
    assert row.secret_hash == digest(printed["client_secret"])  # shown once, kept hashed
    assert asyncio.run(_client(settings, "globex", printed["client_id"])) is None


def test_a_refused_client_prints_why_and_writes_nothing(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = saas_clients(
        settings, capsys, "--tenant", "acme", "--name", "App", "--grant", "authorization_code",
        "--redirect-uri", "http://evil.example/cb", "--scope", "nonsense:scope",
    )  # fmt: skip
    assert code == 2
    assert "redirectUris.0" in out
    assert "scopes" in out
