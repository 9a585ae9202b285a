"""``saas keys``: the OAuth signing keys of tenants.

- ``saas keys list --tenant SLUG [--json]``: each key's state and dates.
- ``saas keys rotate --tenant SLUG | --all [--force]``: what the daily job does now
  (publish a next key, promote it when due, remove retired keys whose tokens have
  expired); ``--force`` promotes at once (a leaked key).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import orjson

from saas.app import make_tenancy
from saas.config import Settings
from schema.oauth.keys import Rotation, rotate_keys
from schema.oauth.models import SigningKey
from tenants.errors import TenancyError
from tenants.models import TenantStatus
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "keys", help="OAuth signing keys: list, rotate"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="a tenant's keys and their states")
    listing.add_argument("--tenant", required=True, metavar="SLUG")
    listing.add_argument("--json", action="store_true")
    rotate = actions.add_parser(
        "rotate", help="publish a next key, promote it when due, drop expired retired keys"
    )
    which = rotate.add_mutually_exclusive_group(required=True)
    which.add_argument("--tenant", metavar="SLUG")
    which.add_argument("--all", action="store_true", help="every active tenant")
    rotate.add_argument(
        "--force", action="store_true", help="promote the next key now (e.g. a leaked key)"
    )
    return parser


def describe(rotation: Rotation) -> str:
    done = []
    if rotation.promoted:
        done.append(f"{rotation.promoted} now signs ({rotation.retired} retired)")
    if rotation.published:
        done.append(f"{rotation.published} published as next")
    if rotation.removed:
        done.append(f"removed {', '.join(rotation.removed)}")
    return "; ".join(done) or "nothing due"


async def _rotate(tenancy: Tenancy, args: argparse.Namespace) -> int:
    if args.all:
        tenants = [t for t in await tenancy.registry.all() if t.status == TenantStatus.ACTIVE]
    else:
        tenants = [await tenancy.registry.by_slug(args.tenant)]
    failed = 0
    for tenant in tenants:
        try:
            async with tenant_scope(tenant):
                print(f"{tenant.slug}: {describe(await rotate_keys(force=args.force))}")
        except TenancyError as exc:  # e.g. behind head: not served, keys untouched
            failed += 1
            print(f"{tenant.slug}: not rotated: {exc}")
    return 1 if failed else 0


def _row(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "state": str(key.state),
        "created_at": key.created_at.isoformat(),
        "activated_at": key.activated_at.isoformat() if key.activated_at else None,
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
        "remove_after": key.remove_after.isoformat() if key.remove_after else None,
    }


async def _list(tenancy: Tenancy, args: argparse.Namespace) -> int:
    tenant: TenantRecord = await tenancy.registry.by_slug(args.tenant)
    async with tenant_scope(tenant):
        rows = [_row(k) for k in await SigningKey.all().order_by("id")]
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"{'kid':<44} {'state':<8} {'created (UTC)':<20} until")
    for row in rows:
        print(f"{row['kid']:<44} {row['state']:<8} {row['created_at'][:19]:<20} "
              f"{(row['remove_after'] or '')[:19]}")  # fmt: skip
    return 0


ACTIONS = {"rotate": _rotate, "list": _list}


def run(settings: Settings, args: argparse.Namespace) -> int:
    async def main() -> int:
        async with make_tenancy(settings) as tenancy:
            return await ACTIONS[args.action](tenancy, args)

    return asyncio.run(main())
