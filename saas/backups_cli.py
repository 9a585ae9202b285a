"""``saas backups``: create, list, verify, restore, prune, policy, extract.

Runs in-process against the same settings as the server: ``create`` backs up now (not
through the job queue) and prints the backup's id.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from saas.app import make_tenancy
from saas.backups import backup_config
from saas.config import Settings, parse_retention
from tenants.models import Backup, BackupKind
from tenants.runtime import Tenancy
from workers.backups.config import configure_backups
from workers.backups.errors import BackupError
from workers.backups.pruning import prune
from workers.backups.restore import restore_backup
from workers.backups.retention import Retention
from workers.backups.schedule import policy_of, set_policy
from workers.backups.service import (
    Opened,
    create_registry_backup,
    create_tenant_backup,
    get_backup,
    list_backups,
    open_backup,
    verify_backup,
)

Action = Callable[[Tenancy, argparse.Namespace], Awaitable[int]]


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# --- actions ----------------------------------------------------------------------------


async def _create(tenancy: Tenancy, args: argparse.Namespace) -> int:
    if args.registry:
        row = await create_registry_backup(requested_by=_operator())
    else:
        record = await tenancy.registry.by_slug(args.tenant)
        row = await create_tenant_backup(record, requested_by=_operator())
    print(row.id)
    return 0


async def _list(tenancy: Tenancy, args: argparse.Namespace) -> int:
    tenant_id = (await tenancy.registry.by_slug(args.tenant)).id if args.tenant else None
    kind = BackupKind.REGISTRY if args.registry else None
    rows = await list_backups(tenant_id=tenant_id, kind=kind)
    if args.json:
        print(orjson.dumps([_as_json(r) for r in rows], option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"{'id':>6} {'tenant':<20} {'status':<10} {'verify':<10} {'taken (UTC)':<20} size")
    for r in rows:
        taken = f"{r.started_at:%Y-%m-%d %H:%M:%S}"
        tenant = r.slug or "(registry)"
        print(
            f"{r.id:>6} {tenant:<20} {r.status:<10} {r.verify_status:<10} {taken:<20} "
            f"{_size(r.stored_size)}"
        )
    return 0


def _size(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f} MB"


def _as_json(row: Backup) -> dict[str, Any]:
    fields = (
        "id", "tenant_id", "slug", "kind", "status", "verify_status", "verify_attempts",
        "verify_error", "engine", "source_schema", "store_key", "key_id", "schema_version",
        "raw_size", "stored_size", "checksum", "requested_by", "error",
    )  # fmt: skip
    data = {name: getattr(row, name) for name in fields}
    data["kind"], data["status"] = str(row.kind), str(row.status)
    data["verify_status"] = str(row.verify_status)
    data["row_counts"] = row.counts()
    for name in ("created_at", "started_at", "finished_at", "verified_at"):
        value = getattr(row, name)
        data[name] = value.isoformat() if value else None
    return data


async def _verify(tenancy: Tenancy, args: argparse.Namespace) -> int:
    row = await verify_backup(args.id)
    if row.verify_error:
        print(f"backup {row.id}: verification FAILED: {row.verify_error}")
        return 1
    print(f"backup {row.id}: verified")
    return 0


async def _restore(tenancy: Tenancy, args: argparse.Namespace) -> int:
    record = await restore_backup(
        args.id, args.into, actor=_operator(), overwrite=args.overwrite, display_name=args.name
    )
    state = "suspended: check it, then `saas tenants resume`" if args.overwrite else "active"
    print(f"restored backup {args.id} into {record.slug} ({record.id}), {state}")
    return 0


async def _prune(tenancy: Tenancy, args: argparse.Namespace) -> int:
    tenant_id = (await tenancy.registry.by_slug(args.tenant)).id if args.tenant else None
    removed = await prune(tenant_id=tenant_id)
    print(
        f"removed {len(removed)} backups" + (f": {', '.join(map(str, removed))}" if removed else "")
    )
    return 0


def _retention(raw: str) -> Retention:
    """The format of ``SAAS_BACKUP_RETENTION``, parsed by the same function."""
    try:
        return Retention(*parse_retention(raw))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, e.g. 7,4,12") from None


async def _policy(tenancy: Tenancy, args: argparse.Namespace) -> int:
    record = await tenancy.registry.by_slug(args.tenant)
    if args.interval_hours is not None or args.keep is not None:
        policy = await set_policy(
            record.id, actor=_operator(), interval_hours=args.interval_hours, retention=args.keep
        )
    else:
        policy = await policy_of(record.id)
    hours = policy.interval.total_seconds() / 3600
    keep = policy.retention
    print(
        f"{record.slug}: every {hours:g} h; keep {keep.daily} daily, {keep.weekly} weekly, "
        f"{keep.monthly} monthly"
    )
    return 0


async def _extract(tenancy: Tenancy, args: argparse.Namespace) -> int:
    """Write a backup's verified payload (an SQLite file, or a pg_dump archive) to a file,
    for restoring by hand (e.g. the registry), and its stored files, if any, to the folder
    ``<output>.files`` (one file per key)."""
    output = Path(args.output)
    folder = output.with_name(output.name + ".files")
    if await asyncio.to_thread(output.exists) or await asyncio.to_thread(folder.exists):
        raise BackupError(f"{output} or {folder} exists")
    async with open_backup(await get_backup(args.id)) as opened:
        await asyncio.to_thread(shutil.copyfile, opened.payload, output)
        if opened.files:
            await asyncio.to_thread(_copy_files, opened, folder)
    print(f"wrote backup {args.id} to {output}")
    if opened.files:
        print(f"and its {len(opened.files)} stored files to {folder}")
    return 0


def _copy_files(opened: Opened, folder: Path) -> None:
    folder.mkdir(mode=0o700)
    for ref, path in zip(opened.manifest.files, opened.files, strict=True):
        shutil.copyfile(path, folder / ref.key)  # the manifest's keys are checked names


ACTIONS: dict[str, Action] = {
    "create": _create,
    "list": _list,
    "verify": _verify,
    "restore": _restore,
    "prune": _prune,
    "policy": _policy,
    "extract": _extract,
}


# --- wiring -----------------------------------------------------------------------------


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``backups`` to the ``saas`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "backups", help="create, list, verify, restore and prune backups"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="back up now and print the backup's id")
    which = create.add_mutually_exclusive_group(required=True)
    which.add_argument("--tenant", metavar="SLUG")
    which.add_argument("--registry", action="store_true", help="the tenant registry")
    listing = actions.add_parser("list", help="backups, newest first")
    whose = listing.add_mutually_exclusive_group()
    whose.add_argument("--tenant", metavar="SLUG")
    whose.add_argument("--registry", action="store_true")
    listing.add_argument("--json", action="store_true")
    verify = actions.add_parser("verify", help="restore in a scratch place and check")
    verify.add_argument("id", type=int)
    restore = actions.add_parser("restore", help="restore into a new tenant, or over one")
    restore.add_argument("id", type=int)
    restore.add_argument("--into", required=True, metavar="SLUG", help="tenant to restore into")
    restore.add_argument(
        "--overwrite", action="store_true",
        help="replace the data of this existing, suspended tenant (backed up first)",
    )  # fmt: skip
    restore.add_argument("--name", help="display name of a new tenant (default: the backup's)")
    pruning = actions.add_parser("prune", help="apply retention now")
    pruning.add_argument("--tenant", metavar="SLUG", help="only this tenant's backups")
    policy = actions.add_parser("policy", help="show or set a tenant's schedule and retention")
    policy.add_argument("--tenant", required=True, metavar="SLUG")
    policy.add_argument("--interval-hours", type=float)
    policy.add_argument("--keep", type=_retention, metavar="D,W,M")
    extract = actions.add_parser("extract", help="write a backup's payload to a file")
    extract.add_argument("id", type=int)
    extract.add_argument("--output", required=True)
    return parser


def run(settings: Settings, args: argparse.Namespace) -> int:
    configure_backups(backup_config(settings))

    async def main() -> int:
        async with make_tenancy(settings) as tenancy:
            return await ACTIONS[args.action](tenancy, args)

    return asyncio.run(main())
