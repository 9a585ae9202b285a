"""``saas backups``, run in-process through its parser as the ``saas`` command runs it,
on each backend."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from saas.app import make_tenancy
from saas.backups import backup_config
from saas.backups_cli import add_parser, run
from saas.config import Settings, load_settings
from tenants.errors import TenantStateError
from tenants.provisioning import create_tenant
from tests.conftest import drop_postgres_leftovers
from tests.workers.backups.conftest import backups_database_url
from tests.workers.backups.helpers import add_file
from workers.backups.config import configure_backups
from workers.backups.retention import Retention
from workers.backups.store import LocalFolderStore


@pytest.fixture
def settings(dialect: str, tmp_path: Path) -> Iterator[Settings]:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = load_settings({
        "SAAS_DATA_DIR": str(tmp_path / "var"),
        "SAAS_DATABASE_URL": backups_database_url() if dialect == "postgres" else "",
        "SAAS_REGISTRY_SCHEMA": f"reg_{uuid.uuid4().hex[:12]}",
        "SAAS_BACKUP_DIR": str(tmp_path / "backups"),
        "SAAS_BACKUP_KEYS": f"2025-06:{key}",
    })  # fmt: skip
    yield settings
    configure_backups(None)
    if dialect == "postgres":
        asyncio.run(_drop_all(settings))


async def _drop_all(settings: Settings) -> None:
    async with make_tenancy(settings) as tenancy:
        names = [t.schema_name for t in await tenancy.registry.all()]
    await drop_postgres_leftovers(settings.tenancy(), names)


def saas_backups(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="saas")
    add_parser(parser.add_subparsers(dest="command", required=True))
    assert run(settings, parser.parse_args(["backups", *argv])) == 0
    return capsys.readouterr().out


def make_tenant(settings: Settings, slug: str) -> None:
    async def main() -> None:
        async with make_tenancy(settings):
            await create_tenant(slug, "Acme Ltd", actor="test")

    asyncio.run(main())


def test_backups_from_the_command_line(
    settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    make_tenant(settings, "acme")
    tenant_backup = int(saas_backups(settings, capsys, "create", "--tenant", "acme"))
    registry_backup = int(saas_backups(settings, capsys, "create", "--registry"))

    listed = json.loads(saas_backups(settings, capsys, "list", "--json"))
    assert [(b["id"], b["kind"], b["key_id"]) for b in listed] == [
        (registry_backup, "registry", "2025-06"),
        (tenant_backup, "tenant", "2025-06"),
    ]
    [acme] = json.loads(saas_backups(settings, capsys, "list", "--tenant", "acme", "--json"))
    assert (acme["status"], acme["row_counts"]["tenant_settings"]) == ("completed", 1)
    assert "acme" in saas_backups(settings, capsys, "list")

    assert "verified" in saas_backups(settings, capsys, "verify", str(tenant_backup))
    out = saas_backups(settings, capsys, "restore", str(tenant_backup), "--into", "acme-copy")
    assert "into acme-copy" in out
    assert "active" in out

    policy = saas_backups(
        settings, capsys, "policy", "--tenant", "acme", "--interval-hours", "6", "--keep", "2,1,1"
    )
    assert policy.strip() == "acme: every 6 h; keep 2 daily, 1 weekly, 1 monthly"
    assert (
        saas_backups(settings, capsys, "prune", "--tenant", "acme").strip() == "removed 0 backups"
    )

    output = tmp_path / "payload"
    saas_backups(settings, capsys, "extract", str(tenant_backup), "--output", str(output))
    magic = b"SQLite format 3" if settings.database_url is None else b"PGDMP"
    assert output.read_bytes().startswith(magic)


def test_extracting_a_backup_writes_its_stored_files_beside_the_payload(
    settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    async def tenant_with_a_file() -> str:
        async with make_tenancy(settings):
            acme = await create_tenant("acme", "Acme Ltd", actor="test")
            return (await add_file(acme, b"logo bytes")).key

    key = asyncio.run(tenant_with_a_file())
    backup = saas_backups(settings, capsys, "create", "--tenant", "acme").strip()

    out = saas_backups(settings, capsys, "extract", backup, "--output", str(tmp_path / "payload"))

    assert f"and its 1 stored files to {tmp_path / 'payload.files'}" in out
    assert [p.name for p in (tmp_path / "payload.files").iterdir()] == [key]
    assert (tmp_path / "payload.files" / key).read_bytes() == b"logo bytes"


def test_restoring_over_an_active_tenant_from_the_command_line_is_refused(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error is a TenancyError: ``saas`` prints it and exits with 1."""
    make_tenant(settings, "acme")
    backup = saas_backups(settings, capsys, "create", "--tenant", "acme").strip()

    with pytest.raises(TenantStateError, match="suspend it first"):
        saas_backups(settings, capsys, "restore", backup, "--into", "acme", "--overwrite")


def test_the_backup_configuration_follows_the_settings(tmp_path: Path) -> None:
    settings = load_settings({
        "SAAS_DATA_DIR": str(tmp_path / "var"),
        "SAAS_BACKUP_RETENTION": "3,2,1",
        "SAAS_BACKUP_INTERVAL_HOURS": "6",
    })  # fmt: skip
    config = backup_config(settings)

    assert (config.retention, config.interval) == (Retention(3, 2, 1), timedelta(hours=6))
    assert isinstance(config.store, LocalFolderStore)
    assert config.store.root == tmp_path / "var" / "backups"
    assert config.keys.current_id.startswith("dev-")  # no SAAS_BACKUP_KEYS: a development key
