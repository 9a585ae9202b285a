"""``saas audit``: verify the tenants' audit chains, list a tenant's records.

``verify`` walks each chain (one line per tenant, with its head: keep those lines
elsewhere, and a consistent rewrite of a whole chain shows as a head that went back)
and exits with 1 when any chain is broken or could not be verified.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from saas.app import make_tenancy
from saas.config import Settings
from schema.audit.models import AuditRecord
from schema.audit.service import ChainReport, RecordFilter, find_records, verify_chain
from tenants.errors import TenancyError
from tenants.models import TenantStatus
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import TenantScope, tenant_scope

Action = Callable[[Tenancy, argparse.Namespace], Awaitable[int]]
# Tenants whose trail is verified when none is named: the ones with data at rest.
_VERIFIED = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)


def _reading(tenant: TenantRecord) -> TenantScope:
    """The tenant's scope for an operator's read. A suspended tenant is read too (after
    a restore over it, before resuming it, is when its trail matters most): suspension
    stops its requests, not this."""
    if tenant.status is TenantStatus.SUSPENDED:
        tenant = dataclasses.replace(tenant, status=TenantStatus.ACTIVE)
    return tenant_scope(tenant)


async def _tenants(tenancy: Tenancy, slugs: list[str] | None) -> list[TenantRecord]:
    if slugs:
        return [await tenancy.registry.by_slug(slug) for slug in slugs]
    return [t for t in await tenancy.registry.all() if t.status in _VERIFIED]


async def _verify(tenancy: Tenancy, args: argparse.Namespace) -> int:
    results = [await _verify_one(tenant) for tenant in await _tenants(tenancy, args.tenant)]
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    else:
        for result in results:
            print(_line(result))
    return 0 if all(r["intact"] for r in results) else 1


async def _verify_one(tenant: TenantRecord) -> dict[str, Any]:
    result: dict[str, Any] = {"tenant": tenant.slug, "tenant_id": tenant.id}
    try:
        async with _reading(tenant):
            report = await verify_chain()
    except TenancyError as exc:
        return {**result, "intact": False, "error": f"not verified: {exc}"}
    return {**result, **_report(report)}


def _report(report: ChainReport) -> dict[str, Any]:
    problem = report.problem
    return {
        "intact": report.intact,
        "checked": report.checked,
        "head_sequence": report.head_sequence,
        "head_hash": report.head_hash,
        "problem": None
        if problem is None
        else {"kind": problem.kind.value, "sequence": problem.sequence, "message": problem.message},
    }


def _line(result: dict[str, Any]) -> str:
    slug = result["tenant"]
    if "error" in result:
        return f"{slug}: {result['error']}"
    head = f"head {result['head_sequence']} {result['head_hash']}"
    problem = result["problem"]
    if problem is None:
        return f"{slug}: intact, {result['checked']} records, {head}"
    where = f"record {problem['sequence']} ({problem['kind']})"
    return f"{slug}: BROKEN at {where}: {problem['message']}; {head}"


async def _list(tenancy: Tenancy, args: argparse.Namespace) -> int:
    tenant = await tenancy.registry.by_slug(args.tenant)
    where = RecordFilter(
        actor=args.actor, operation=args.operation, target=args.target, outcome=args.outcome
    )
    async with _reading(tenant):
        rows = await find_records(where).order_by("-id").limit(args.limit)
    if args.json:
        print(orjson.dumps([_as_json(r) for r in rows], option=orjson.OPT_INDENT_2).decode())
        return 0
    for r in rows:
        targets = ",".join(orjson.loads(r.targets)) or "-"
        print(
            f"{r.id:>8} {r.occurred_at:%Y-%m-%d %H:%M:%S} {r.actor_subject:<20} "
            f"{r.operation:<24} {r.outcome:<20} {targets}"
        )
    return 0


def _as_json(row: AuditRecord) -> dict[str, Any]:
    return {
        "sequence": row.id,
        "occurred_at": row.occurred_at.isoformat(),
        "actor": row.actor_subject,
        "actor_kind": row.actor_kind,
        "client_id": row.client_id,
        "tenant_id": row.tenant_id,
        "operation": row.operation,
        "targets": orjson.loads(row.targets),
        "outcome": row.outcome,
        "source_address": row.source_address,
        "request_id": row.request_id,
        "summary": orjson.loads(row.summary),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


ACTIONS: dict[str, Action] = {"verify": _verify, "list": _list}


# --- wiring -----------------------------------------------------------------------------


def _limit(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("between 1 and 10000")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``audit`` to the ``saas`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit", help="verify the audit chains, list audit records"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    verify = actions.add_parser(
        "verify", help="check every record of each tenant's chain (exit 1 on a break)"
    )
    verify.add_argument(
        "--tenant", action="append", metavar="SLUG", help="only this tenant (repeatable)"
    )
    verify.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", help="a tenant's records, newest first")
    listing.add_argument("--tenant", required=True, metavar="SLUG")
    listing.add_argument("--limit", type=_limit, default=50)
    listing.add_argument("--actor", help="e.g. user:12")
    listing.add_argument("--operation", help="e.g. userRegister")
    listing.add_argument("--target", help="e.g. User:12")
    listing.add_argument("--outcome", help="success or a failure code")
    listing.add_argument("--json", action="store_true")
    return parser


def run(settings: Settings, args: argparse.Namespace) -> int:
    async def main() -> int:
        async with make_tenancy(settings) as tenancy:
            return await ACTIONS[args.action](tenancy, args)

    return asyncio.run(main())
