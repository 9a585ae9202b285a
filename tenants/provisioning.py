"""Tenant lifecycle: create, suspend, resume, delete. Each change is checked, recorded in
``tenant_event`` (who, when, why) and bumps the registry generation in one transaction."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from tenants.backends import SHARED_ALIAS
from tenants.errors import InvalidTenantInput, TenantNotFound, TenantStateError
from tenants.models import Tenant, TenantDomain, TenantEvent, TenantStatus
from tenants.records import TenantRecord
from tenants.registry import bump_generation, is_valid_slug, load_record
from tenants.runtime import get_tenancy
from tenants.scope import tenant_scope
from tenants.storage import file_store

RESERVED_SLUGS = frozenset({"admin", "api", "app", "auth", "graphql", "operator", "t", "www"})
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Margin over the registry TTL before a suspended tenant's data may be removed.
PROPAGATION_MARGIN = 0.5


def new_tenant_id() -> str:
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()


def validate_slug(slug: str) -> str:
    if not is_valid_slug(slug):
        raise InvalidTenantInput(
            f"slug {slug[:80]!r} must be 2-63 characters of a-z, 0-9 and single hyphens, "
            "starting with a letter"
        )
    if slug in RESERVED_SLUGS:
        raise InvalidTenantInput(f"slug {slug!r} is reserved")
    return slug


def validate_domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    if not DOMAIN_RE.fullmatch(domain):
        raise InvalidTenantInput(f"{domain[:253]!r} is not a valid domain name")
    return domain


def validate_display_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidTenantInput("display name must be 1-200 characters")
    return name


async def _record_event(row: Tenant, action: str, actor: str, reason: str | None) -> None:
    await TenantEvent.create(
        tenant_id=row.id, slug=row.slug, action=action, actor=actor, reason=reason
    )
    await bump_generation()


async def create_tenant(
    slug: str, display_name: str, *, actor: str, domains: tuple[str, ...] = ()
) -> TenantRecord:
    """Registry row, then the schema at head, then the provisioning hooks; the tenant
    becomes routable (active) only once all of that succeeded."""
    tenancy = get_tenancy()
    slug = validate_slug(slug)
    display_name = validate_display_name(display_name)
    clean_domains = tuple(validate_domain(d) for d in domains)
    if len(set(clean_domains)) != len(clean_domains):
        raise InvalidTenantInput("a domain is listed twice")
    if await Tenant.exists(slug=slug):
        raise InvalidTenantInput(f"slug {slug!r} is taken")
    if clean_domains and await TenantDomain.exists(domain__in=clean_domains):
        raise InvalidTenantInput("a domain is already used by another tenant")
    row = await _insert_registry_row(slug, display_name, clean_domains, actor)
    version = await tenancy.backend.create_schema(row.schema_name, tenancy.tenant_track)
    row.schema_version = version
    await row.save(update_fields=["schema_version", "updated_at"])
    record = await load_record(row)
    async with tenant_scope(record, provisioning=True):
        for hook in tenancy.provision_hooks:
            await hook(record)
    return await _activate(row, actor, None)


async def _activate(row: Tenant, actor: str, reason: str | None) -> TenantRecord:
    async with in_transaction(SHARED_ALIAS):
        row.status = TenantStatus.ACTIVE
        await row.save(update_fields=["schema_version", "status", "updated_at"])
        await _record_event(row, "activate", actor, reason)
    get_tenancy().registry.invalidate()
    return await load_record(row)


async def _insert_registry_row(
    slug: str, display_name: str, domains: tuple[str, ...], actor: str
) -> Tenant:
    tenant_id = new_tenant_id()
    try:
        async with in_transaction(SHARED_ALIAS):
            row = await Tenant.create(
                id=tenant_id,
                slug=slug,
                display_name=display_name,
                status=TenantStatus.PROVISIONING,
                schema_name=f"t_{tenant_id}",
            )
            for domain in domains:
                await TenantDomain.create(tenant_id=tenant_id, domain=domain)
            await _record_event(row, "create", actor, None)
    except IntegrityError as exc:
        # The checks above ran outside this transaction: a concurrent create can take
        # the slug or a domain in between, and the unique constraints catch it here.
        raise InvalidTenantInput(f"slug {slug!r} or one of its domains is taken") from exc
    return row


async def _get_row(slug: str) -> Tenant:
    row = await Tenant.get_or_none(slug=slug)
    if row is None:
        raise TenantNotFound(f"no tenant {slug!r}")
    return row


async def _transition(
    slug: str,
    expected: TenantStatus,
    new: TenantStatus,
    action: str,
    actor: str,
    reason: str | None,
) -> TenantRecord:
    async with in_transaction(SHARED_ALIAS):
        row = await _get_row(slug)
        if row.status != expected:
            raise TenantStateError(
                f"cannot {action} tenant {slug!r}: it is {row.status}, not {expected.value}"
            )
        # Compare-and-swap on the status, so two operators at once cannot both succeed.
        updated = await Tenant.filter(id=row.id, status=expected).update(
            status=new,
            status_reason=reason,
            suspended_at=datetime.now(UTC) if new == TenantStatus.SUSPENDED else None,
            updated_at=datetime.now(UTC),
        )
        if updated != 1:
            raise TenantStateError(f"tenant {slug!r} changed concurrently; try again")
        await _record_event(row, action, actor, reason)
    tenancy = get_tenancy()
    tenancy.registry.invalidate()
    if new != TenantStatus.ACTIVE:
        await tenancy.backend.forget(row.schema_name)
    return await load_record(await _get_row(slug))


async def suspend_tenant(slug: str, *, actor: str, reason: str) -> TenantRecord:
    if not reason.strip():
        raise InvalidTenantInput("a reason is required to suspend a tenant")
    return await _transition(
        slug, TenantStatus.ACTIVE, TenantStatus.SUSPENDED, "suspend", actor, reason.strip()
    )


async def resume_tenant(slug: str, *, actor: str, reason: str | None = None) -> TenantRecord:
    return await _transition(
        slug, TenantStatus.SUSPENDED, TenantStatus.ACTIVE, "resume", actor, reason
    )


async def delete_tenant(slug: str, *, actor: str, reason: str) -> None:
    """Refused unless suspended. Waits until every process has seen the suspension (its
    registry cache TTL has passed), then removes the data and the registry row."""
    tenancy = get_tenancy()
    row = await _get_row(slug)
    if row.status not in (TenantStatus.SUSPENDED, TenantStatus.DELETING):
        raise TenantStateError(
            f"cannot delete tenant {slug!r} while it is {row.status}: suspend it first"
        )
    if row.suspended_at is not None:
        visible_at = row.suspended_at + timedelta(
            seconds=tenancy.config.registry_ttl + PROPAGATION_MARGIN
        )
        wait = (visible_at - datetime.now(UTC)).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
    if row.status == TenantStatus.SUSPENDED:
        await _transition(
            slug, TenantStatus.SUSPENDED, TenantStatus.DELETING, "delete", actor, reason
        )
    await _purge(row, actor, reason)


async def _purge(row: Tenant, actor: str, reason: str) -> None:
    """Remove the tenant's data and files, then its registry row, recording who and why."""
    tenancy = get_tenancy()
    await tenancy.backend.drop_schema(row.schema_name)
    await file_store().purge(row.id)
    async with in_transaction(SHARED_ALIAS):
        await Tenant.filter(id=row.id).delete()
        await _record_event(row, "purge", actor, reason)
    tenancy.registry.invalidate()


# --- tenants made from existing data (restores) --------------------------------------------

# Makes a tenant's data: its schema (``row.schema_name``) and, for a restore, its files.
SchemaMaker = Callable[[Tenant], Awaitable[None]]


async def _migrate_to_head(schema_name: str) -> str | None:
    tenancy = get_tenancy()
    async with tenancy.backend.tenant_target(schema_name) as target:
        result = await target.migrate(tenancy.tenant_track, tenancy.tenant_track.head)
    return result.after


async def create_tenant_from(
    slug: str, display_name: str, *, actor: str, reason: str, make_schema: SchemaMaker
) -> TenantRecord:
    """A new tenant whose schema (and files) ``make_schema(row)`` makes (a restore) instead
    of the migrations from empty, then migrated to head; routable (active) only then. No
    provisioning hooks run: the data is already there. On failure the schema, the files
    and the registry row are removed."""
    row = await _insert_registry_row(
        validate_slug(slug), validate_display_name(display_name), (), actor
    )
    try:
        await make_schema(row)
        row.schema_version = await _migrate_to_head(row.schema_name)
    except BaseException:
        await _purge(row, actor, f"{reason}: failed")
        raise
    return await _activate(row, actor, reason)


async def replace_tenant_schema(
    slug: str, *, actor: str, reason: str, make_schema: SchemaMaker
) -> TenantRecord:
    """Replace a suspended tenant's data with what ``make_schema(row)`` puts there (a
    restore over it), then migrate it to head. It stays suspended: the operator checks it
    and resumes it."""
    tenancy = get_tenancy()
    row = await _get_row(slug)
    if row.status != TenantStatus.SUSPENDED:
        raise TenantStateError(
            f"cannot replace the data of tenant {slug!r} while it is {row.status}: suspend it first"
        )
    await tenancy.backend.forget(row.schema_name)
    await make_schema(row)
    version = await _migrate_to_head(row.schema_name)
    async with in_transaction(SHARED_ALIAS):
        await Tenant.filter(id=row.id).update(schema_version=version, updated_at=datetime.now(UTC))
        await _record_event(row, "restore", actor, reason)
    tenancy.registry.invalidate()
    return await load_record(await _get_row(slug))
