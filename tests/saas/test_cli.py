"""The ``saas`` command, run in-process as a user would run it, on each backend."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from saas.app import make_tenancy
from saas.cli import ensure_demo_tenant, main
from saas.config import load_settings
from schema.settings.models import SettingsChange, TenantSettings
from tenants.config import TenancyConfig
from tenants.scope import tenant_scope
from tests.conftest import POSTGRES_URL, drop_postgres_leftovers
from tests.tracks import HEAD, PREVIOUS


@pytest.fixture
def cli_env(
    dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    registry_schema = f"reg_{uuid.uuid4().hex[:12]}"
    env = {
        "SAAS_DATA_DIR": str(tmp_path / "var"),
        "SAAS_DATABASE_URL": POSTGRES_URL if dialect == "postgres" else "",
        "SAAS_REGISTRY_SCHEMA": registry_schema,
        "SAAS_REGISTRY_TTL": "0.1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env
    if dialect == "postgres":
        asyncio.run(_drop_all(load_settings().tenancy()))


async def _drop_all(config: TenancyConfig) -> None:
    async with make_tenancy(load_settings()) as tenancy:
        names = [t.schema_name for t in await tenancy.registry.all()]
    await drop_postgres_leftovers(config, names)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def list_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    code, out, _ = run(capsys, "tenants", "list", "--json")
    assert code == 0
    return json.loads(out)


def test_tenant_lifecycle_from_the_command_line(cli_env, capsys):
    assert (
        run(capsys, "tenants", "create", "acme", "--name", "Acme", "--domain", "acme.example.com")[
            0
        ]
        == 0
    )
    assert run(capsys, "tenants", "create", "globex", "--name", "Globex")[0] == 0
    tenants = {t["slug"]: t for t in list_json(capsys)}
    assert sorted(tenants) == ["acme", "globex"]
    assert tenants["acme"]["domains"] == ["acme.example.com"]
    assert {t["status"] for t in tenants.values()} == {"active"}

    code, _, err = run(capsys, "tenants", "delete", "globex", "--reason", "x", "--yes")
    assert code == 1
    assert "suspend it first" in err

    assert run(capsys, "tenants", "suspend", "globex", "--reason", "unpaid")[0] == 0
    assert {t["slug"]: t["status"] for t in list_json(capsys)}["globex"] == "suspended"
    code, _, err = run(capsys, "tenants", "delete", "globex", "--reason", "gone")
    assert code == 1
    assert "--yes" in err
    assert run(capsys, "tenants", "delete", "globex", "--reason", "gone", "--yes")[0] == 0
    assert [t["slug"] for t in list_json(capsys)] == ["acme"]


def test_bad_input_is_refused_with_a_message(cli_env, capsys):
    code, _, err = run(capsys, "tenants", "create", "../etc", "--name", "x")
    assert code == 1
    assert "slug" in err
    run(capsys, "tenants", "create", "acme", "--name", "Acme")
    code, _, err = run(capsys, "tenants", "create", "acme", "--name", "Again")
    assert (code, "taken" in err) == (1, True)
    code, _, err = run(
        capsys, "tenants", "configure", "acme", "--currency", "XXQ", "--time-zone", "Mars/Base"
    )
    assert code == 1
    assert "currency" in err
    assert "time_zone" in err
    assert run(capsys, "tenants", "suspend", "nobody", "--reason", "x")[0] == 1


def test_migrate_status_downgrade_and_upgrade(cli_env, capsys):
    run(capsys, "tenants", "create", "acme", "--name", "Acme")
    run(capsys, "tenants", "create", "globex", "--name", "Globex")
    code, out, _ = run(capsys, "migrate", "status")
    assert code == 0
    assert "0 not at head" in out

    code, out, err = run(capsys, "migrate", "downgrade", "--to", PREVIOUS, "--tenants", "acme")
    assert code == 0
    assert out.strip() == f"1 migrated, 0 already at {PREVIOUS}, 0 failed"
    assert "100%" in err  # progress is shown

    code, out, _ = run(capsys, "migrate", "status", "--json")
    assert code == 3
    versions = {t["slug"]: t["version"] for t in json.loads(out)["tenants"]}
    assert versions == {"acme": PREVIOUS, "globex": HEAD}

    code, out, _ = run(capsys, "migrate", "upgrade")
    assert (code, out.strip()) == (0, f"1 migrated, 1 already at {HEAD}, 0 failed")
    assert run(capsys, "migrate", "status")[0] == 0


def test_configure_changes_settings_and_keeps_history(cli_env, capsys):
    run(capsys, "tenants", "create", "acme", "--name", "Acme")
    code, _, _ = run(
        capsys,
        "tenants",
        "configure",
        "acme",
        "--currency",
        "eur",
        "--locale",
        "fr-FR",
        "--reason",
        "launch",
    )
    assert code == 0

    async def read() -> tuple[TenantSettings, list[tuple[str, str, str]]]:
        async with make_tenancy(load_settings()) as tenancy:
            record = await tenancy.registry.by_slug("acme")
            async with tenant_scope(record):
                changes = (
                    await SettingsChange.all()
                    .order_by("field")
                    .values_list("field", "new_value", "reason")
                )
                return await TenantSettings.get(id=1), changes

    settings, changes = asyncio.run(read())
    assert (settings.currency, settings.locale, settings.version) == ("EUR", "fr_FR", 2)
    assert changes == [("currency", "EUR", "launch"), ("locale", "fr_FR", "launch")]


def test_invalid_settings_stop_the_command(monkeypatch, capsys):
    monkeypatch.setenv("SAAS_PORT", "not-a-port")
    code, _, err = run(capsys, "tenants", "list")
    assert code == 2
    assert "SAAS_PORT='not-a-port': must be a whole number" in err


def test_schema_export_check_passes_on_the_committed_sdl(capsys):
    code, out, _ = run(capsys, "schema", "export", "--check")
    assert code == 0
    assert "up to date" in out


def test_serve_creates_the_demo_tenant_once(cli_env):
    async def twice() -> tuple[bool, bool, str]:
        async with make_tenancy(load_settings()) as tenancy:
            first = await ensure_demo_tenant(tenancy, "demo")
            second = await ensure_demo_tenant(tenancy, "demo")
            record = await tenancy.registry.by_slug("demo")
            async with tenant_scope(record):
                name = (await TenantSettings.get(id=1)).name
        return first, second, name

    assert asyncio.run(twice()) == (True, False, "Demo Company")
