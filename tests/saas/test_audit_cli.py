"""``saas audit``, run in-process as a user would run it, over a real tenancy on each
backend: one line per tenant, and the exit code an operator's cron checks."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from saas.app import make_tenancy
from saas.audit_cli import add_parser
from saas.audit_cli import run as audit_run
from saas.config import Settings, load_settings
from schema.audit.models import AuditRecord
from schema.audit.service import (
    GENESIS,
    Acting,
    RecordFilter,
    acting_as,
    find_records,
    record,
)
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.saas.test_backups_cli import make_tenant, saas_backups, settings
from tests.saas.test_cli import cli_env, run
from tests.schema.audit.helpers import tamper
from tests.schema.principals import user_with
from tests.tracks import PREVIOUS

__all__ = ["cli_env", "settings"]  # the fixtures, shared with the other command tests


def in_tenancy(job: Callable[[Tenancy], Awaitable[Any]], settings: Settings | None = None) -> Any:
    async def main() -> Any:
        async with make_tenancy(settings or load_settings()) as tenancy:
            return await job(tenancy)

    return asyncio.run(main())


async def three_records(tenancy: Tenancy) -> str:
    """Three records in acme; the last one's hash."""
    acme = await tenancy.registry.by_slug("acme")
    async with tenant_scope(acme):
        with acting_as(Acting(user_with(user_id=12), "192.0.2.1", "req-9")):
            await record("userRegister", targets=["User:12"], summary={"email": "a@b.example"})
            await record("roleAssign", targets=["User:12", "Role:2"])
            await record("signIn", outcome="INVALID_CREDENTIALS")
        return (await AuditRecord.get(id=3)).hash


async def delete_record_two(tenancy: Tenancy) -> None:
    await tamper(
        tenancy, await tenancy.registry.by_slug("acme"), "DELETE FROM audit_record WHERE id = 2"
    )


@pytest.mark.usefixtures("cli_env")
def test_verify_and_list_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    for slug in ("acme", "globex"):
        assert run(capsys, "tenants", "create", slug, "--name", slug.title())[0] == 0
    last_hash = in_tenancy(three_records)

    assert run(capsys, "audit", "verify") == (
        0,
        f"acme: intact, 3 records, head 3 {last_hash}\n"
        f"globex: intact, 0 records, head 0 {GENESIS}\n",
        "",
    )
    code, out, _ = run(capsys, "audit", "verify", "--tenant", "acme", "--json")
    [acme] = json.loads(out)
    assert code == 0
    assert {k: v for k, v in acme.items() if k != "tenant_id"} == {
        "tenant": "acme",
        "intact": True,
        "checked": 3,
        "head_sequence": 3,
        "head_hash": last_hash,
        "problem": None,
    }

    code, out, _ = run(capsys, "audit", "list", "--tenant", "acme", "--json")
    listed = json.loads(out)
    assert code == 0
    assert [(r["sequence"], r["operation"], r["outcome"], r["targets"]) for r in listed] == [
        (3, "signIn", "INVALID_CREDENTIALS", []),
        (2, "roleAssign", "success", ["User:12", "Role:2"]),
        (1, "userRegister", "success", ["User:12"]),
    ]
    assert listed[2]["summary"] == {"email": "a@b.example"}
    assert (listed[2]["actor"], listed[2]["source_address"]) == ("user:12", "192.0.2.1")
    code, out, _ = run(capsys, "audit", "list", "--tenant", "acme", "--target", "Role:2")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["2"]
    assert "roleAssign" in out


@pytest.mark.usefixtures("cli_env")
def test_a_broken_chain_fails_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    for slug in ("acme", "globex"):
        assert run(capsys, "tenants", "create", slug, "--name", slug.title())[0] == 0
    last_hash = in_tenancy(three_records)
    in_tenancy(delete_record_two)

    code, out, _ = run(capsys, "audit", "verify")
    assert code == 1
    assert out.splitlines() == [
        "acme: BROKEN at record 2 (gap): record 2 is missing (the next one is 3): it was "
        f"deleted; head 3 {last_hash}",
        f"globex: intact, 0 records, head 0 {GENESIS}",
    ]
    assert run(capsys, "audit", "verify", "--tenant", "globex")[0] == 0
    code, out, _ = run(capsys, "audit", "verify", "--tenant", "acme", "--json")
    assert code == 1
    assert json.loads(out)[0]["problem"] == {
        "kind": "gap",
        "sequence": 2,
        "message": "record 2 is missing (the next one is 3): it was deleted",
    }


@pytest.mark.usefixtures("cli_env")
def test_suspended_tenants_are_verified_and_unreadable_ones_fail(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for slug in ("acme", "globex", "initech"):
        assert run(capsys, "tenants", "create", slug, "--name", slug.title())[0] == 0
    last_hash = in_tenancy(three_records)
    assert run(capsys, "tenants", "suspend", "acme", "--reason", "restored over")[0] == 0
    assert run(capsys, "audit", "verify", "--tenant", "acme") == (
        0,
        f"acme: intact, 3 records, head 3 {last_hash}\n",
        "",
    )

    assert run(capsys, "migrate", "downgrade", "--to", PREVIOUS, "--tenants", "initech")[0] == 0
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 1
    lines = out.splitlines()
    assert lines[:2] == [
        f"acme: intact, 3 records, head 3 {last_hash}",
        f"globex: intact, 0 records, head 0 {GENESIS}",
    ]
    assert lines[2].startswith("initech: not verified: tenant 'initech' is at schema revision")

    code, _, err = run(capsys, "audit", "verify", "--tenant", "nobody")
    assert code == 1
    assert "nobody" in err


def test_a_restored_tenant_keeps_its_chain_and_extends_it(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """On PostgreSQL the copy is restored under another schema name: the triggers name
    no schema, and keep appending to the copy's own chain."""
    make_tenant(settings, "acme")
    last_hash = in_tenancy(three_records, settings)
    backup = saas_backups(settings, capsys, "create", "--tenant", "acme").strip()
    saas_backups(settings, capsys, "restore", backup, "--into", "acme-copy")
    assert saas_audit(settings, capsys, "verify", "--tenant", "acme-copy") == (
        0,
        f"acme-copy: intact, 3 records, head 3 {last_hash}\n",
    )

    async def extend(tenancy: Tenancy) -> tuple[list[str], list[str], list[int]]:
        acme, copy = [await tenancy.registry.by_slug(s) for s in ("acme", "acme-copy")]
        async with tenant_scope(copy):
            await record("orderCreate", targets=["Order:1"])
            made_in = [r.tenant_id for r in await AuditRecord.all().order_by("id")]
            found = await find_records(RecordFilter(target="Order:1")).values_list("id", flat=True)
        return made_in, [acme.id] * 3 + [copy.id], list(found)

    made_in, expected, found = in_tenancy(extend, settings)
    assert made_in == expected  # each record says in which tenant it was made
    assert found == [4]
    code, out = saas_audit(settings, capsys, "verify")
    assert code == 0
    assert out.splitlines()[0] == f"acme: intact, 3 records, head 3 {last_hash}"
    assert out.splitlines()[1].startswith("acme-copy: intact, 4 records, head 4 ")


def saas_audit(
    settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="saas")
    add_parser(parser.add_subparsers(dest="command", required=True))
    code = audit_run(settings, parser.parse_args(["audit", *argv]))
    return code, capsys.readouterr().out
