"""The ``saas`` command: serve, migrate, tenants, schema.

Every subcommand reads the same settings as the server (``saas/config.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import signal
import smtplib
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, TypeVar

import orjson

from saas import audit_cli, backups_cli
from saas.app import background_running, make_background, make_tenancy
from saas.config import Settings, SettingsError, load_settings, parse_pools
from saas.mail import mail_config
from saas.oauth import cli as keys_cli
from saas.oauth import clients_cli
from saas.observability import configure_logging
from schema.core.errors import DomainError
from schema.operator import credentials
from schema.operator.api import OPERATOR_SDL_PATH, build_operator_schema
from schema.root import SDL_PATH, build_schema, export_sdl
from schema.settings.service import SettingsChanges, update_settings
from tenants import migrations, provisioning
from tenants.errors import TenancyError, TenantNotFound
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from workers.dead_letters import list_dead_letters, retry_dead_letter
from workers.mail.senders import PermanentMailError

T = TypeVar("T")


class CommandError(Exception):
    pass


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _run(settings: Settings, job: Callable[[Tenancy], Awaitable[T]]) -> T:
    async def main() -> T:
        async with make_tenancy(settings) as tenancy:
            return await job(tenancy)

    return asyncio.run(main())


class Progress:
    """A one-line progress counter on stderr for work over many tenants."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.last_shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        interactive = sys.stderr.isatty()
        if percent == self.last_shown or not (interactive or percent % 10 == 0):
            return
        self.last_shown = percent
        line = f"{self.what}: {done}/{total} ({percent}%)"
        if interactive:
            print("\r" + line, end="\n" if done == total else "", file=sys.stderr)
        else:
            print(line, file=sys.stderr)


# --- serve --------------------------------------------------------------------------------


async def ensure_demo_tenant(tenancy: Tenancy, slug: str) -> bool:
    """Create the demo tenant on a fresh data dir; True when it was created now."""
    try:
        await tenancy.registry.by_slug(slug)
    except TenantNotFound:
        await provisioning.create_tenant(slug, "Demo Company", actor="saas serve")
        return True
    return False


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    host = args.host or settings.host
    port = args.port or settings.port
    if settings.demo_tenant:
        slug = settings.demo_tenant
        created = _run(settings, lambda t: ensure_demo_tenant(t, slug))
        base = f"http://{host}:{port}"
        print(
            f"{'Created' if created else 'Serving'} demo tenant {slug!r}. Try:\n"
            f"  curl -s {base}/t/{slug}/graphql -H 'content-type: application/json' \\\n"
            '    -d \'{"query": "{ tenantSettings { name locale currency timeZone } }"}\'\n'
            f"  GraphiQL (development): {base}/t/{slug}/graphql in a browser\n",
            flush=True,
        )
    uvicorn.run(
        "saas.app:asgi_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers or settings.web_concurrency,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


# --- worker -------------------------------------------------------------------------------


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Worker pools for a Redis or RabbitMQ broker, until SIGTERM or SIGINT."""
    if not settings.broker_url:
        raise CommandError(
            "SAAS_BROKER_URL is empty: the workers run inside `saas serve` (embedded mode)"
        )
    pools = _pools_arg(args.queues) if args.queues else settings.worker_pools
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.host)
    asyncio.run(_work(settings, pools, relay=args.relay))
    return 0


def _pools_arg(raw: str) -> dict[str, int]:
    try:
        return parse_pools(raw)
    except ValueError as exc:
        raise CommandError(f"--queues: {exc}") from None


async def _work(settings: Settings, pools: dict[str, int], *, relay: bool) -> None:
    background = make_background(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await asyncio.to_thread(background.start_workers, pools)
    print(f"worker pools {pools} on {settings.broker_url.split('@')[-1]}", flush=True)
    try:
        if relay:
            async with (
                make_tenancy(settings) as tenancy,
                background_running(settings, tenancy, background, workers=False),
            ):
                await stop.wait()
        else:
            await stop.wait()
    finally:
        await asyncio.to_thread(background.stop_workers)


# --- jobs ---------------------------------------------------------------------------------


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "failed":
        letters = _run(settings, lambda t: list_dead_letters(include_retried=args.all))
        _print_dead_letters(letters, args.json)
        return 0
    letter = _run(settings, lambda t: retry_dead_letter(args.id, actor=_actor()))
    print(f"job {letter.job_id} ({letter.actor}) of {letter.slug or 'the platform'} queued again")
    return 0


def _print_dead_letters(letters: Sequence[Any], as_json: bool) -> None:
    rows = [
        {
            "id": d.id,
            "tenant": d.slug,
            "job_id": d.job_id,
            "actor": d.actor,
            "queue": d.queue,
            "attempts": d.attempts,
            "error": d.error,
            "failed_at": d.failed_at.isoformat(),
            "retried_at": d.retried_at.isoformat() if d.retried_at else None,
        }
        for d in letters
    ]
    if as_json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        print(
            f"{row['id']:>6} {row['tenant'] or '-':<20} {row['actor']:<28} "
            f"{row['attempts']} attempts  {row['failed_at']}  {row['error'][:80]}"
        )


# --- migrate ------------------------------------------------------------------------------


def _slugs(raw: str | None) -> list[str] | None:
    return [s.strip() for s in raw.split(",") if s.strip()] if raw else None


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "status":
        return _run(settings, lambda t: _migrate_status(t, args.json))
    target = args.to if args.action == "downgrade" else (args.to or "head")
    report = _run(
        settings,
        lambda t: migrations.migrate_fleet(
            target,
            slugs=_slugs(args.tenants),
            parallel=args.parallel,
            progress=Progress(f"{args.action} to {target}"),
        ),
    )
    print(
        f"{len(report.migrated)} migrated, {len(report.unchanged)} already at {report.target}, "
        f"{len(report.failed)} failed"
    )
    for slug, error in sorted(report.failed.items()):
        print(f"  FAILED {slug}: {error}", file=sys.stderr)
    return 0 if report.ok else 1


async def _migrate_status(tenancy: Tenancy, as_json: bool) -> int:
    head = tenancy.tenant_track.head
    async with tenancy.backend.registry_target() as target:
        registry = await target.version(tenancy.shared_track)
    rows = await migrations.fleet_status()
    behind = [r for r in rows if r.version != head]
    if as_json:
        print(orjson.dumps({
            "registry": {"version": registry, "head": tenancy.shared_track.head},
            "tenant_head": head,
            "tenants": [_row(r) for r in rows],
        }).decode())  # fmt: skip
    else:
        print(f"registry: {registry} (head {tenancy.shared_track.head})")
        print(f"tenants: {len(rows)}, head {head}, {len(behind)} not at head")
        for row in behind:
            print(f"  {row.slug}: {row.version} ({row.status})")
    return 0 if not behind else 3


def _row(row: migrations.TenantVersion) -> dict[str, Any]:
    return {"slug": row.slug, "status": row.status, "version": row.version}


# --- tenants ------------------------------------------------------------------------------


def cmd_tenants(settings: Settings, args: argparse.Namespace) -> int:
    actor = _actor()
    action = args.action
    if action == "create":
        record = _run(
            settings,
            lambda t: provisioning.create_tenant(
                args.slug, args.name, actor=actor, domains=tuple(args.domain or ())
            ),
        )
        print(f"created {record.slug} ({record.id}), schema {record.schema_name}")
    elif action == "list":
        records = _run(settings, lambda t: t.registry.all())
        _print_tenants(records, args.json)
    elif action == "suspend":
        _run(
            settings,
            lambda t: provisioning.suspend_tenant(args.slug, actor=actor, reason=args.reason),
        )
        print(f"suspended {args.slug}")
    elif action == "resume":
        _run(
            settings,
            lambda t: provisioning.resume_tenant(args.slug, actor=actor, reason=args.reason),
        )
        print(f"resumed {args.slug}")
    elif action == "delete":
        if not args.yes:
            raise CommandError(f"deleting {args.slug!r} removes all its data: add --yes")
        _run(
            settings,
            lambda t: provisioning.delete_tenant(args.slug, actor=actor, reason=args.reason),
        )
        print(f"deleted {args.slug}")
    elif action == "configure":
        _run(settings, lambda t: _configure(t, args, actor))
        print(f"updated settings of {args.slug}")
    return 0


def _print_tenants(records: Sequence[Any], as_json: bool) -> None:
    if as_json:
        rows = [
            {
                "id": r.id,
                "slug": r.slug,
                "display_name": r.display_name,
                "status": r.status.value,
                "schema_version": r.schema_version,
                "domains": list(r.domains),
                "created_at": r.created_at.isoformat(),
            }
            for r in records
        ]
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for r in records:
        domains = ",".join(r.domains) or "-"
        print(f"{r.slug:<24} {r.status.value:<12} {r.schema_version or '-':<8} {domains}")


async def _configure(tenancy: Tenancy, args: argparse.Namespace, actor: str) -> None:
    record = await tenancy.registry.by_slug(args.slug)
    changes = SettingsChanges(
        name=args.name, locale=args.locale, currency=args.currency, time_zone=args.time_zone
    )
    async with tenant_scope(record):
        await update_settings(changes, actor=actor, reason=args.reason)


# --- operators ----------------------------------------------------------------------------


def cmd_operators(settings: Settings, args: argparse.Namespace) -> int:
    """The operator API's credentials. A key is printed once, when made: only its hash
    is kept."""
    if args.action == "list":
        _print_operators(_run(settings, lambda t: credentials.list_operators()), args.json)
        return 0
    if args.action == "disable":
        _run(settings, lambda t: credentials.disable_operator(args.name))
        print(f"disabled operator {args.name}: its key no longer works")
        return 0
    if args.action == "create":
        issued = _run(
            settings, lambda t: credentials.create_operator(args.name, created_by=_actor())
        )
    else:
        issued = _run(settings, lambda t: credentials.rotate_key(args.name))
    print(f"operator {issued.operator.name}: API key (shown once, store it now):", file=sys.stderr)
    print(issued.key)
    return 0


def _print_operators(operators: Sequence[Any], as_json: bool) -> None:
    rows = [
        {
            "name": o.name,
            "status": o.status.value,
            "key_prefix": o.key_prefix,
            "created_at": o.created_at.isoformat(),
            "created_by": o.created_by,
            "key_created_at": o.key_created_at.isoformat(),
            "last_used_at": o.last_used_at.isoformat() if o.last_used_at else None,
        }
        for o in operators
    ]
    if as_json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        print(
            f"{row['name']:<24} {row['status']:<9} {row['key_prefix']}...  "
            f"last used {row['last_used_at'] or 'never'}"
        )


# --- mail ---------------------------------------------------------------------------------


def cmd_mail(settings: Settings, args: argparse.Namespace) -> int:
    """Send a test message through the configured sender: checks SAAS_MAIL_URL's host,
    TLS and login before users' mail depends on them."""
    config = mail_config(settings)
    message = EmailMessage()
    message["From"] = Address("saas platform", addr_spec=config.from_address)
    message["To"] = args.to
    message["Subject"] = "saas mail check"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=message["From"].addresses[0].domain)
    message.set_content("This message checks the platform's mail settings. No reply needed.\n")
    try:
        asyncio.run(config.sender.send(message, key=f"check-{secrets.token_hex(4)}"))
    except (PermanentMailError, smtplib.SMTPException, OSError) as exc:
        raise CommandError(f"not sent through {config.sender}: {exc}") from None
    print(f"sent a test message to {args.to} through {config.sender}")
    return 0


# --- schema -------------------------------------------------------------------------------


def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    """The tenants' schema and the operator's, each in its own file."""
    exports = ((SDL_PATH, build_schema()), (OPERATOR_SDL_PATH, build_operator_schema()))
    for path, schema in exports:
        sdl = export_sdl(schema)
        if args.check:
            if path.read_text() != sdl:
                raise CommandError(f"{path} is out of date: run `saas schema export`")
            print(f"{path} is up to date")
        else:
            path.write_text(sdl)
            print(f"wrote {path}")
    return 0


# --- wiring -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (creates the demo tenant first)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)

    migrate = commands.add_parser("migrate", help="tenant schema migrations")
    migrate.add_argument("action", choices=["status", "upgrade", "downgrade"])
    migrate.add_argument("--to", help="revision id, head or base (downgrade needs it)")
    migrate.add_argument("--tenants", help="comma-separated slugs: migrate this subset first")
    migrate.add_argument("--parallel", type=int, default=4, help="tenants at once (default 4)")
    migrate.add_argument("--json", action="store_true", help="status as JSON")

    tenants = commands.add_parser("tenants", help="create, list, suspend, resume, delete")
    actions = tenants.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create")
    create.add_argument("slug")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--domain", action="append", help="custom domain (repeatable)")
    listing = actions.add_parser("list")
    listing.add_argument("--json", action="store_true")
    suspend = actions.add_parser("suspend")
    suspend.add_argument("slug")
    suspend.add_argument("--reason", required=True)
    resume = actions.add_parser("resume")
    resume.add_argument("slug")
    resume.add_argument("--reason")
    delete = actions.add_parser("delete", help="remove a suspended tenant and all its data")
    delete.add_argument("slug")
    delete.add_argument("--reason", required=True)
    delete.add_argument("--yes", action="store_true", help="confirm")
    configure = actions.add_parser("configure", help="change a tenant's settings")
    configure.add_argument("slug")
    configure.add_argument("--name")
    configure.add_argument("--locale")
    configure.add_argument("--currency")
    configure.add_argument("--time-zone")
    configure.add_argument("--reason")

    worker = commands.add_parser("worker", help="worker pools for a Redis/RabbitMQ broker")
    worker.add_argument("--queues", help="queue:threads pairs (default SAAS_WORKER_POOLS)")
    worker.add_argument("--relay", action="store_true", help="also relay outboxes here")

    jobs = commands.add_parser("jobs", help="background jobs whose retries ran out")
    job_actions = jobs.add_subparsers(dest="action", required=True)
    failed = job_actions.add_parser("failed", help="list dead letters")
    failed.add_argument("--json", action="store_true")
    failed.add_argument("--all", action="store_true", help="include retried ones")
    retry = job_actions.add_parser("retry", help="send a dead letter's job again")
    retry.add_argument("id", type=int)

    backups_cli.add_parser(commands)
    audit_cli.add_parser(commands)

    mail = commands.add_parser("mail", help="mail to users")
    mail_actions = mail.add_subparsers(dest="action", required=True)
    mail_check = mail_actions.add_parser("check", help="send a test message (SAAS_MAIL_URL)")
    mail_check.add_argument("--to", required=True, help="recipient address")

    operators = commands.add_parser("operators", help="credentials of the operator API")
    operator_actions = operators.add_subparsers(dest="action", required=True)
    operator_actions.add_parser("create", help="a new operator; prints its key once").add_argument(
        "name"
    )
    operator_list = operator_actions.add_parser("list")
    operator_list.add_argument("--json", action="store_true")
    operator_actions.add_parser("rotate", help="a new key; the old one stops working").add_argument(
        "name"
    )
    operator_actions.add_parser("disable", help="the key stops working").add_argument("name")

    keys_cli.add_parser(commands)
    clients_cli.add_parser(commands)

    schema = commands.add_parser("schema", help="the GraphQL SDL")
    schema_actions = schema.add_subparsers(dest="action", required=True)
    export = schema_actions.add_parser(
        "export", help="write schema/schema.graphql and schema/operator.graphql"
    )
    export.add_argument("--check", action="store_true", help="fail if the file is stale")
    return parser


HANDLERS: dict[str, Callable[[Settings, argparse.Namespace], Any]] = {
    "serve": cmd_serve,
    "worker": cmd_worker,
    "jobs": cmd_jobs,
    "backups": backups_cli.run,
    "audit": audit_cli.run,
    "operators": cmd_operators,
    "mail": cmd_mail,
    "keys": keys_cli.run,
    "clients": clients_cli.run,
    "migrate": cmd_migrate,
    "tenants": cmd_tenants,
    "schema": cmd_schema,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging("WARNING" if args.command != "serve" else settings.log_level)
    try:
        return HANDLERS[args.command](settings, args) or 0
    except (CommandError, TenancyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DomainError as exc:
        for error in exc.errors:
            print(f"error: {'.'.join(error.field) or '-'}: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
