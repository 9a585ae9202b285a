"""What the platform operator does to tenants: the lifecycle in ``tenants.provisioning``
with every refusal turned into a coded ``DomainError`` before anything changes, and each
change recorded in the tenant's own audit trail when its store can be entered (the
registry's ``tenant_event`` log records every lifecycle change in any case).

Runs outside any tenant scope; enters a tenant's scope itself where it must.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from schema.access.service import assign_role
from schema.access.templates import OWNER
from schema.audit import service as audit
from schema.core.errors import DomainError, FieldError, fail, raise_if_any
from schema.identity.models import User, UserType
from schema.identity.service import create_user
from tenants import provisioning
from tenants.backends import TENANT_ALIAS
from tenants.errors import InvalidTenantInput, TenancyError, TenantStateError
from tenants.models import Tenant, TenantDomain, TenantStatus
from tenants.records import TenantRecord
from tenants.registry import is_valid_slug, load_record
from tenants.scope import check_routable, tenant_scope

MAX_DOMAINS = 20
MAX_REASON = 1000


def tenants_query(status: TenantStatus | None = None) -> QuerySet[Tenant]:
    """The registry's tenants (each with its domains), of one status when given."""
    query = Tenant.all() if status is None else Tenant.filter(status=status)
    return query.prefetch_related("domains")


async def find_tenant(slug: str) -> TenantRecord | None:
    """Read from the registry itself, not a process's cache: an operator acts on what is
    there now."""
    row = await Tenant.get_or_none(slug=slug) if is_valid_slug(slug) else None
    return None if row is None else await load_record(row)


async def _existing(slug: str, field: str = "slug", code: str = "NOT_FOUND") -> TenantRecord:
    record = await find_tenant(slug)
    if record is None:
        raise fail(field, code, f"no tenant {slug[:63]!r}")
    return record


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise fail("reason", "REASON_REQUIRED", "give the reason: it is kept in the log")
    if len(reason) > MAX_REASON:
        raise fail("reason", "REASON_TOO_LONG", f"at most {MAX_REASON} characters")
    return reason


def _expect(record: TenantRecord, allowed: frozenset[TenantStatus], action: str) -> None:
    if record.status not in allowed:
        raise fail(
            "slug",
            "WRONG_STATE",
            f"cannot {action} tenant {record.slug!r} while it is {record.status.value}",
        )


@asynccontextmanager
async def _trail(record: TenantRecord) -> AsyncIterator[bool]:
    """The tenant's store, in a transaction, for the audit record of a change to it:
    yields False (no trail to write) when the tenant cannot be entered (not active, or
    not at this code's schema head); its registry log still has the change."""
    try:
        check_routable(record)
    except TenancyError:
        routable = False
    else:
        routable = True
    if not routable:
        yield False
        return
    async with tenant_scope(record), in_transaction(TENANT_ALIAS):
        yield True


def _tenant_target(record: TenantRecord) -> list[str]:
    return [f"Tenant:{record.id}"]


# --- create -------------------------------------------------------------------------------


async def _check_new_slug(slug: str) -> list[FieldError]:
    if not is_valid_slug(slug):
        message = "2-63 characters of a-z, 0-9 and single hyphens, starting with a letter"
        return [FieldError(("slug",), "SLUG_INVALID", message)]
    if slug in provisioning.RESERVED_SLUGS:
        return [FieldError(("slug",), "SLUG_RESERVED", f"{slug!r} is reserved")]
    if await Tenant.exists(slug=slug):
        return [FieldError(("slug",), "SLUG_TAKEN", f"a tenant is already called {slug!r}")]
    return []


async def _check_domains(domains: Sequence[str]) -> tuple[list[str], list[FieldError]]:
    if len(domains) > MAX_DOMAINS:
        error = FieldError(("domains",), "TOO_MANY_DOMAINS", f"at most {MAX_DOMAINS} domains")
        return [], [error]
    cleaned: list[str] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(domains):
        where = ("domains", str(index))
        try:
            domain = provisioning.validate_domain(raw)
        except InvalidTenantInput as exc:
            errors.append(FieldError(where, "DOMAIN_INVALID", str(exc)))
            continue
        if domain in cleaned:
            errors.append(FieldError(where, "DOMAIN_DUPLICATE", f"{domain!r} is listed twice"))
        elif await TenantDomain.exists(domain=domain):
            errors.append(FieldError(where, "DOMAIN_TAKEN", f"{domain!r} serves another tenant"))
        cleaned.append(domain)
    return cleaned, errors


async def create_tenant(
    slug: str, name: str, domains: Sequence[str] = (), *, actor: str
) -> TenantRecord:
    """Every input is checked (all problems reported at once) before the registry row."""
    errors = await _check_new_slug(slug)
    try:
        name = provisioning.validate_display_name(name)
    except InvalidTenantInput as exc:
        errors.append(FieldError(("name",), "NAME_INVALID", str(exc)))
    cleaned, domain_errors = await _check_domains(domains)
    errors += domain_errors
    raise_if_any(errors)
    try:
        record = await provisioning.create_tenant(slug, name, actor=actor, domains=tuple(cleaned))
    except InvalidTenantInput as exc:  # a concurrent create took the slug or a domain
        raise fail("slug", "SLUG_TAKEN", str(exc)) from None
    summary = {"slug": slug, "name": name, "domains": cleaned}
    async with _trail(record) as trail:
        if trail:
            await audit.record("tenantCreate", targets=_tenant_target(record), summary=summary)
    return record


# --- lifecycle ----------------------------------------------------------------------------

_ACTIVE = frozenset({TenantStatus.ACTIVE})
_SUSPENDED = frozenset({TenantStatus.SUSPENDED})
# A delete that stopped half-way (data dropped, row left) is finished by another one.
_DELETABLE = frozenset({TenantStatus.SUSPENDED, TenantStatus.DELETING})


def _lost_race(record: TenantRecord, exc: TenantStateError) -> DomainError:
    return fail("slug", "WRONG_STATE", f"tenant {record.slug!r}: {exc}")


async def suspend_tenant(slug: str, reason: str, *, actor: str) -> TenantRecord:
    """Recorded in the tenant's trail in the same block as the change, while the tenant
    can still be entered."""
    reason = _reason(reason)
    record = await _existing(slug)
    _expect(record, _ACTIVE, "suspend")
    async with _trail(record) as trail:
        try:
            suspended = await provisioning.suspend_tenant(slug, actor=actor, reason=reason)
        except TenantStateError as exc:
            raise _lost_race(record, exc) from None
        if trail:
            await _record_change("tenantSuspend", record, reason)
    return suspended


async def resume_tenant(slug: str, reason: str, *, actor: str) -> TenantRecord:
    """Recorded in the tenant's trail once it can be entered again."""
    reason = _reason(reason)
    record = await _existing(slug)
    _expect(record, _SUSPENDED, "resume")
    try:
        resumed = await provisioning.resume_tenant(slug, actor=actor, reason=reason)
    except TenantStateError as exc:
        raise _lost_race(record, exc) from None
    async with _trail(resumed) as trail:
        if trail:
            await _record_change("tenantResume", resumed, reason)
    return resumed


async def delete_tenant(slug: str, reason: str, *, actor: str) -> TenantRecord:
    """Only a suspended tenant; its data and its trail go with it, so the registry's
    tenant_event log (kept after deletion) is the record. Returns what it was."""
    reason = _reason(reason)
    record = await _existing(slug)
    _expect(record, _DELETABLE, "delete")
    try:
        await provisioning.delete_tenant(slug, actor=actor, reason=reason)
    except TenantStateError as exc:
        raise _lost_race(record, exc) from None
    return record


async def _record_change(operation: str, record: TenantRecord, reason: str) -> None:
    summary: dict[str, Any] = {"slug": record.slug, "reason": reason}
    await audit.record(operation, targets=_tenant_target(record), summary=summary)


# --- the tenant's owner -------------------------------------------------------------------


async def create_owner(slug: str, email: str, full_name: str) -> User:
    """A tenant staff user holding the owner role, mailed a link to set a password (they
    have none). Creating the first owner is what this is for, but it does not check for
    owners already there: the operator may need to add one when the only owner has left,
    and a tenant's owners can equally make more owners themselves. User, role and audit
    record commit together (the mail job with them, through the outbox)."""
    record = await _existing(slug, field="tenantSlug", code="TENANT_NOT_FOUND")
    try:
        check_routable(record)
    except TenancyError as exc:
        raise fail("tenantSlug", "TENANT_NOT_ACTIVE", str(exc)) from None
    async with tenant_scope(record), in_transaction(TENANT_ALIAS):
        user = await create_user(email, full_name, user_type=UserType.TENANT_STAFF)
        await assign_role(user.id, OWNER)
        await audit.record(
            "tenantOwnerCreate", targets=[f"User:{user.id}"], summary={"role": OWNER}
        )
    return user
