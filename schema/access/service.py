"""Roles, assignments and what a user may do. Runs inside ``tenant_scope()``; knows
nothing of HTTP or GraphQL.

The rules every change follows:

- **No privilege escalation.** A principal grants (by assigning a role, or by creating or
  editing one) only permissions it holds itself, for the merchants it holds them for:
  tenant-wide for a tenant-wide assignment, for merchant M (or tenant-wide) for an
  assignment limited to M. Taking a role away needs the same, so an administrator cannot
  demote an owner. ``SYSTEM`` principals (the operator API, jobs) are not checked.
- **The owner role always keeps a holder:** the last active, tenant-wide owner cannot lose
  it. Removals of owners lock the owner role's row, so two concurrent removals cannot
  both pass the check.
- **Merchant limits:** a role whose ``merchant_scope`` is required is always assigned for
  one merchant; a forbidden one never. Merchant staff (a user with a ``merchant_id``) hold
  staff permissions only for their own merchant.
- Template roles are read-only here; ``sync_templates`` owns them.
- Every change writes an ``AccessChange`` row (who, when, why, what) and an audit record
  in the same transaction, and drops the cached access it affects.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from schema.access.catalog import SELF_SERVICE, expand, is_permission_scope
from schema.access.models import AccessChange, ChangeAction, Role, RoleAssignment, RolePermission
from schema.access.templates import OWNER, TEMPLATES, MerchantScope
from schema.audit import service as audit
from schema.core.errors import DomainError, FieldError, fail, raise_if_any
from schema.core.principal import Grants, Principal, PrincipalKind, system_principal
from schema.identity.models import User, UserStatus
from tenants.backends import TENANT_ALIAS
from tenants.records import TenantRecord
from tenants.scope import current_tenant

log = logging.getLogger("saas.access")

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{1,49}")
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_REASON = 1000
MAX_PERMISSIONS = 200


@dataclass(frozen=True, slots=True)
class UserAccess:
    """What a user may do now: the merged grants of every role they hold (none while the
    account is deactivated)."""

    active: bool
    grants: Grants
    merchant_id: int | None
    user_type: str


@dataclass(frozen=True, slots=True)
class HeldRole:
    key: str
    name: str
    merchant_id: int | None


# --- the in-process access cache ---------------------------------------------------------


class AccessCache:
    """``access_for_user`` results per (tenant id, user id) for ``ttl`` seconds.

    Other processes see a change within ``ttl``; this process at once: changes drop the
    user's entry, or mark the whole tenant stale (role edits). A load that raced with a
    change is not stored (the marks it started with moved on), so a stale read cannot be
    cached after the change that made it stale. Shared by the threads of the process (the
    API's loop and the workers' loop), hence the lock.
    """

    def __init__(self, ttl: float = 5.0, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, int], tuple[float, int, UserAccess | None]] = (
            OrderedDict()
        )
        self._changes = count(1)
        self._tenant_marks: dict[str, int] = {}
        self._user_marks: dict[tuple[str, int], int] = {}

    def mark(self, tenant_id: str, user_id: int) -> tuple[int, int]:
        return self._tenant_marks.get(tenant_id, 0), self._user_marks.get((tenant_id, user_id), 0)

    def get(self, tenant_id: str, user_id: int) -> tuple[bool, UserAccess | None]:
        """(found, access)."""
        key = (tenant_id, user_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            expires, tenant_mark, access = entry
            if expires <= time.monotonic() or tenant_mark != self._tenant_marks.get(tenant_id, 0):
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, access

    def put(
        self, tenant_id: str, user_id: int, mark: tuple[int, int], access: UserAccess | None
    ) -> None:
        with self._lock:
            if self.mark(tenant_id, user_id) != mark:
                return  # changed while loading: the next call loads again
            self._entries[(tenant_id, user_id)] = (time.monotonic() + self.ttl, mark[0], access)
            self._entries.move_to_end((tenant_id, user_id))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_user(self, tenant_id: str, user_id: int) -> None:
        with self._lock:
            self._user_marks[(tenant_id, user_id)] = next(self._changes)
            self._entries.pop((tenant_id, user_id), None)

    def forget_tenant(self, tenant_id: str) -> None:
        with self._lock:
            self._tenant_marks[tenant_id] = next(self._changes)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


ACCESS_CACHE = AccessCache()


def forget_user_access(user_id: int) -> None:
    """Drop the current tenant's cached access of one user: call after changing anything
    ``access_for_user`` reads (their status, type or merchant)."""
    ACCESS_CACHE.forget_user(current_tenant().id, user_id)


def forget_tenant_access() -> None:
    ACCESS_CACHE.forget_tenant(current_tenant().id)


# --- reading access ----------------------------------------------------------------------


async def stored_permissions_of(role_ids: Iterable[int]) -> dict[int, list[str]]:
    """What each role lists (permissions and patterns, unexpanded), sorted."""
    stored: dict[int, list[str]] = {role_id: [] for role_id in role_ids}
    rows = await RolePermission.filter(role_id__in=list(stored)).order_by("permission")
    for row in rows:
        stored[row.role_id].append(row.permission)
    return stored


async def role_permissions(role_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """Each role's permissions, patterns expanded against the catalog."""
    stored = await stored_permissions_of(role_ids)
    return {role_id: expand(patterns) for role_id, patterns in stored.items()}


async def _load_access(user_id: int) -> UserAccess | None:
    user = await User.filter(id=user_id).only("id", "status", "merchant_id", "user_type").first()
    if user is None:
        return None
    active = user.status == UserStatus.ACTIVE
    grants = Grants()
    if active:
        held = await RoleAssignment.filter(user_id=user_id).values_list("role_id", "merchant_id")
        permissions = await role_permissions({role_id for role_id, _ in held})
        grants = Grants.merge(
            (permission, merchant_id)
            for role_id, merchant_id in held
            for permission in permissions[role_id]
        )
    return UserAccess(active, grants, user.merchant_id, str(user.user_type))


async def access_for_user(user_id: int) -> UserAccess | None:
    """What the user may do (None: no such user), cached for ``ACCESS_CACHE.ttl``."""
    tenant_id = current_tenant().id
    found, access = ACCESS_CACHE.get(tenant_id, user_id)
    if found:
        return access
    mark = ACCESS_CACHE.mark(tenant_id, user_id)
    access = await _load_access(user_id)
    ACCESS_CACHE.put(tenant_id, user_id, mark, access)
    return access


def grants_for_scopes(scopes: Iterable[str], merchant_id: int | None = None) -> Grants:
    """Every catalog permission a scope covers, for ``merchant_id`` only when given: what
    an OAuth client acting as itself may do."""
    return Grants.merge((permission, merchant_id) for permission in expand(scopes))


async def roles_of(user_id: int) -> list[HeldRole]:
    rows = (
        await RoleAssignment.filter(user_id=user_id)
        .order_by("role__key", "merchant_id")
        .values_list("role__key", "role__name", "merchant_id")
    )
    return [HeldRole(key, name, merchant_id) for key, name, merchant_id in rows]


def holds(grants: Grants, permission: str, merchant_id: int | None) -> bool:
    """Held for ``merchant_id``; with None, held for the whole tenant."""
    if merchant_id is None:
        return permission in grants.by_permission and grants.merchants(permission) is None
    return grants.allows(permission, merchant_id)


# --- validation --------------------------------------------------------------------------


def clean_reason(reason: str | None, errors: list[FieldError]) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        errors.append(FieldError(("reason",), "INVALID", f"at most {MAX_REASON} characters"))
    return reason or None


def _clean_text(
    field: str, value: str, maximum: int, errors: list[FieldError], *, required: bool
) -> str:
    value = value.strip()
    if (required and not value) or len(value) > maximum:
        low = 1 if required else 0
        errors.append(
            FieldError((field,), "INVALID", f"{field} must be {low}-{maximum} characters")
        )
    return value


def _clean_permissions(permissions: Sequence[str], errors: list[FieldError]) -> list[str]:
    cleaned = list(dict.fromkeys(p.strip() for p in permissions))
    if len(cleaned) > MAX_PERMISSIONS:
        errors.append(FieldError(("permissions",), "INVALID", "too many permissions"))
        return cleaned
    for index, permission in enumerate(cleaned):
        if not is_permission_scope(permission):
            message = f"unknown permission {permission[:100]!r}"
            errors.append(FieldError(("permissions", str(index)), "UNKNOWN_PERMISSION", message))
    return sorted(cleaned)


def _raise_not_held(
    actor: Principal, needed: Iterable[str], merchant_id: int | None, field: str
) -> None:
    """The escalation check: ``actor`` must hold all of ``needed`` (see the module doc)."""
    if actor.kind is PrincipalKind.SYSTEM:
        return
    missing = sorted(p for p in set(needed) if not holds(actor.grants, p, merchant_id))
    if missing:
        where = "for the whole tenant" if merchant_id is None else "for this merchant"
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        message = f"you do not hold {shown} {where}"
        raise fail(field, "PERMISSION_NOT_HELD", message)


# --- recording ---------------------------------------------------------------------------


async def _record(
    action: ChangeAction,
    role: Role,
    actor: Principal,
    reason: str | None,
    *,
    user_id: int | None = None,
    merchant_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    audited: bool = True,
) -> None:
    await AccessChange.create(
        action=action,
        role_key=role.key,
        user_id=user_id,
        merchant_id=merchant_id,
        actor=actor.subject,
        reason=reason,
        detail=dict(detail) if detail else None,
    )
    targets = [f"Role:{role.id}"] + ([f"User:{user_id}"] if user_id is not None else [])
    summary = {"role": role.key, "reason": reason, **(detail or {})}
    if merchant_id is not None:
        summary["merchant_id"] = merchant_id
    if audited:
        await audit.record(OPERATIONS[action], targets=targets, summary=summary)


OPERATIONS = {
    ChangeAction.ROLE_CREATED: "roleCreate",
    ChangeAction.ROLE_UPDATED: "roleUpdate",
    ChangeAction.ROLE_DELETED: "roleDelete",
    ChangeAction.ROLE_ASSIGNED: "roleAssign",
    ChangeAction.ROLE_UNASSIGNED: "roleUnassign",
}


# --- roles -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleInput:
    """What ``create_role`` sets and ``update_role`` changes (None: keep as it is)."""

    name: str | None = None
    description: str | None = None
    permissions: Sequence[str] | None = None
    merchant_scope: MerchantScope | None = None


def _clean_role_input(changes: RoleInput, *, creating: bool) -> tuple[RoleInput, list[FieldError]]:
    errors: list[FieldError] = []
    name = description = None
    if creating or changes.name is not None:
        name = _clean_text("name", changes.name or "", MAX_NAME, errors, required=True)
    if creating or changes.description is not None:
        description = _clean_text(
            "description", changes.description or "", MAX_DESCRIPTION, errors, required=False
        )
    permissions = None
    if creating or changes.permissions is not None:
        permissions = _clean_permissions(changes.permissions or (), errors)
    scope = changes.merchant_scope or (MerchantScope.OPTIONAL if creating else None)
    return RoleInput(name, description, permissions, scope), errors


async def get_role(key: str) -> Role | None:
    return await Role.get_or_none(key=key)


async def _role_or_error(key: str, *, field: str = "key") -> Role:
    """The role, its row locked (PostgreSQL) until the transaction ends: changes to a role
    and to its assignments are serialised per role."""
    role = await Role.filter(key=key).select_for_update().first()
    if role is None:
        raise fail(field, "ROLE_NOT_FOUND", f"no role {key[:50]!r}")
    return role


async def stored_permissions(role_id: int) -> list[str]:
    return (await stored_permissions_of([role_id]))[role_id]


async def _set_permissions(
    role: Role, before: Sequence[str], after: Sequence[str]
) -> dict[str, list[str]]:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    if removed:
        await RolePermission.filter(role_id=role.id, permission__in=removed).delete()
    if added:
        await RolePermission.bulk_create([RolePermission(role=role, permission=p) for p in added])
    return {"added": added, "removed": removed} if added or removed else {}


def _key_taken(key: str) -> DomainError:
    return fail("key", "KEY_TAKEN", f"a role {key!r} exists already")


async def create_role(
    actor: Principal, key: str, changes: RoleInput, *, reason: str | None = None
) -> Role:
    """A role of the tenant's own, holding only permissions ``actor`` holds tenant-wide."""
    clean, errors = _clean_role_input(changes, creating=True)
    key = key.strip()
    if not KEY_PATTERN.fullmatch(key):
        message = "key must be 2-50 characters of a-z, 0-9 and _, starting with a letter"
        errors.append(FieldError(("key",), "INVALID", message))
    reason = clean_reason(reason, errors)
    raise_if_any(errors)
    permissions = list(clean.permissions or ())
    _raise_not_held(actor, {"roles:manage", *expand(permissions)}, None, "permissions")
    async with in_transaction(TENANT_ALIAS):
        if await Role.exists(key=key):
            raise _key_taken(key)
        try:
            async with in_transaction(TENANT_ALIAS):  # a savepoint: the key's unique index
                role = await Role.create(
                    key=key,
                    name=clean.name,
                    description=clean.description,
                    merchant_scope=clean.merchant_scope,
                )
        except IntegrityError:
            raise _key_taken(key) from None
        await _set_permissions(role, [], permissions)
        detail = {"permissions": permissions, "merchant_scope": role.merchant_scope.value}
        await _record(ChangeAction.ROLE_CREATED, role, actor, reason, detail=detail)
    return role


async def _scope_conflict(role: Role, scope: MerchantScope) -> FieldError | None:
    """Changing the merchant scope must not leave assignments that break it."""
    held = RoleAssignment.filter(role_id=role.id)
    if scope is MerchantScope.REQUIRED and await held.filter(merchant_id__isnull=True).exists():
        message = "some holders hold this role for the whole tenant: unassign them first"
    elif scope is MerchantScope.FORBIDDEN and await held.filter(merchant_id__isnull=False).exists():
        message = "some holders hold this role for one merchant: unassign them first"
    else:
        return None
    return FieldError(("merchantScope",), "SCOPE_CONFLICT", message)


def _read_only(role: Role) -> None:
    if role.template:
        message = f"{role.key!r} is a template: copy it into a role of your own to change it"
        raise fail("key", "TEMPLATE_READ_ONLY", message)


async def update_role(
    actor: Principal, key: str, changes: RoleInput, *, reason: str | None = None
) -> Role:
    """Change a role of the tenant's own. ``actor`` must hold, tenant-wide, what the role
    grants before and after: nobody edits a role above them."""
    clean, errors = _clean_role_input(changes, creating=False)
    reason = clean_reason(reason, errors)
    if clean == RoleInput():
        errors.append(FieldError((), "NOTHING_TO_CHANGE", "nothing to change was given"))
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        role = await _role_or_error(key)
        _read_only(role)
        before = await stored_permissions(role.id)
        after = before if clean.permissions is None else clean.permissions
        needed = {"roles:manage", *expand(before), *expand(after)}
        _raise_not_held(actor, needed, None, "permissions")
        if clean.merchant_scope is not None and clean.merchant_scope != role.merchant_scope:
            conflict = await _scope_conflict(role, clean.merchant_scope)
            raise_if_any([conflict] if conflict else [])
        fields = {
            f: v
            for f in ("name", "description", "merchant_scope")
            if (v := getattr(clean, f)) is not None and v != getattr(role, f)
        }
        detail: dict[str, Any] = {"changed": {f: str(v) for f, v in fields.items()}}
        detail.update(await _set_permissions(role, before, after))
        if fields or len(detail) > 1:
            for f, v in fields.items():
                setattr(role, f, v)
            await role.save()
            await _record(ChangeAction.ROLE_UPDATED, role, actor, reason, detail=detail)
    forget_tenant_access()
    return role


async def delete_role(actor: Principal, key: str, *, reason: str | None = None) -> None:
    """Delete a role of the tenant's own that nobody holds."""
    errors: list[FieldError] = []
    reason = clean_reason(reason, errors)
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        role = await _role_or_error(key)
        _read_only(role)
        permissions = await stored_permissions(role.id)
        _raise_not_held(actor, {"roles:manage", *expand(permissions)}, None, "key")
        holders = await RoleAssignment.filter(role_id=role.id).count()
        if holders:
            message = f"{holders} assignment(s) of this role exist: unassign them first"
            raise fail("key", "ROLE_IN_USE", message)
        await remove_role(actor, role, reason)
    forget_tenant_access()


async def remove_role(actor: Principal, role: Role, reason: str | None) -> None:
    """Delete a role nobody holds, recording what it granted (no checks: callers do theirs)."""
    detail = {"permissions": await stored_permissions(role.id)}
    await _record(ChangeAction.ROLE_DELETED, role, actor, reason, detail=detail)
    await role.delete()


# --- templates ---------------------------------------------------------------------------


async def sync_templates(*, audited: bool = True) -> list[str]:
    """Create the template roles, or bring them to this release's definition; returns the
    keys that changed. A tenant's own role that took a template's key is left alone.

    Unaudited at provisioning: the roles are part of the tenant's creation, recorded in
    the registry's tenant events and in this domain's change log; the audit trail starts
    with the first thing done in the tenant."""
    actor = system_principal("platform")
    changed = []
    async with in_transaction(TENANT_ALIAS):
        roles = {r.key: r for r in await Role.filter(key__in=[t.key for t in TEMPLATES])}
        for template in TEMPLATES:
            role = roles.get(template.key)
            if role is not None and not role.template:
                log.warning("role %r is the tenant's own: template not applied", template.key)
                continue
            fields = {
                "name": template.name,
                "description": template.description,
                "merchant_scope": template.merchant_scope,
            }
            if role is None:
                role = await Role.create(key=template.key, template=True, **fields)
                action, before = ChangeAction.ROLE_CREATED, []
            else:
                action, before = ChangeAction.ROLE_UPDATED, await stored_permissions(role.id)
                fields = {f: v for f, v in fields.items() if getattr(role, f) != v}
                if fields:
                    await Role.filter(id=role.id).update(**fields)
            detail = await _set_permissions(role, before, template.permissions)
            if action is ChangeAction.ROLE_CREATED or fields or detail:
                await _record(
                    action, role, actor, "template", detail=detail or None, audited=audited
                )
                changed.append(template.key)
    forget_tenant_access()
    return changed


async def seed_templates(tenant: TenantRecord) -> None:
    """Provisioning hook: every new tenant starts with the template roles."""
    await sync_templates(audited=False)


# --- assignments -------------------------------------------------------------------------


async def assignable_role(
    actor: Principal, role_key: str, merchant_id: int | None, *, field: str = "roleKey"
) -> tuple[Role, frozenset[str]]:
    """The role and its permissions, when ``actor`` may grant it or take it back for
    ``merchant_id`` (tenant-wide for None): it holds ``roles:assign`` and all the role
    grants there (ROLE_NOT_FOUND, PERMISSION_NOT_HELD otherwise). The role's row stays
    locked until the caller's transaction ends. Other domains that hand out roles
    (merchants inviting staff) check through this too."""
    role = await _role_or_error(role_key, field=field)
    permissions = (await role_permissions([role.id]))[role.id]
    _raise_not_held(actor, {"roles:assign", *permissions}, merchant_id, field)
    return role, permissions


def _assignment_errors(
    role: Role, user: User, permissions: frozenset[str], merchant_id: int | None
) -> list[FieldError]:
    errors = []
    if user.status != UserStatus.ACTIVE:
        errors.append(FieldError(("userId",), "USER_INACTIVE", "the account is deactivated"))
    if role.merchant_scope is MerchantScope.REQUIRED and merchant_id is None:
        message = f"{role.key!r} is always limited to one merchant: name it"
        errors.append(FieldError(("merchantId",), "MERCHANT_REQUIRED", message))
    if role.merchant_scope is MerchantScope.FORBIDDEN and merchant_id is not None:
        message = f"{role.key!r} cannot be limited to a merchant"
        errors.append(FieldError(("merchantId",), "MERCHANT_NOT_ALLOWED", message))
    staff = not permissions <= SELF_SERVICE
    if user.merchant_id is not None and staff and merchant_id != user.merchant_id:
        message = "this user works for a merchant: staff roles are limited to that merchant"
        errors.append(FieldError(("merchantId",), "MERCHANT_MISMATCH", message))
    return errors


def _assignment_query(user_id: int, role_id: int, merchant_id: int | None) -> Any:
    query = RoleAssignment.filter(user_id=user_id, role_id=role_id)
    if merchant_id is None:
        return query.filter(merchant_id__isnull=True)
    return query.filter(merchant_id=merchant_id)


def _already_assigned() -> DomainError:
    message = "the user holds this role already"
    return fail("roleKey", "ALREADY_ASSIGNED", message)


async def _assign(
    actor: Principal,
    user_id: int,
    role_key: str,
    merchant_id: int | None,
    reason: str | None,
    *,
    keep_existing: bool,
) -> RoleAssignment:
    errors: list[FieldError] = []
    reason = clean_reason(reason, errors)
    if merchant_id is not None and merchant_id <= 0:
        errors.append(FieldError(("merchantId",), "INVALID", "not a merchant id"))
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        role, permissions = await assignable_role(actor, role_key, merchant_id)
        user = await User.get_or_none(id=user_id)
        if user is None:
            raise fail("userId", "USER_NOT_FOUND", "no such user")
        raise_if_any(_assignment_errors(role, user, permissions, merchant_id))
        existing = await _assignment_query(user_id, role.id, merchant_id).first()
        if existing is not None:
            if keep_existing:
                return existing
            raise _already_assigned()
        try:
            async with in_transaction(TENANT_ALIAS):  # a savepoint: the unique index
                assignment = await RoleAssignment.create(
                    user_id=user_id,
                    role=role,
                    merchant_id=merchant_id,
                    granted_by=actor.subject,
                    reason=reason,
                )
        except IntegrityError:
            raise _already_assigned() from None
        await _record(
            ChangeAction.ROLE_ASSIGNED,
            role,
            actor,
            reason,
            user_id=user_id,
            merchant_id=merchant_id,
        )
    ACCESS_CACHE.forget_user(current_tenant().id, user_id)
    return assignment


async def assign(
    actor: Principal,
    user_id: int,
    role_key: str,
    *,
    merchant_id: int | None = None,
    reason: str | None = None,
) -> RoleAssignment:
    """Give ``user_id`` the role, tenant-wide or for one merchant."""
    return await _assign(actor, user_id, role_key, merchant_id, reason, keep_existing=False)


async def assign_role(
    user_id: int,
    role_key: str,
    *,
    merchant_id: int | None = None,
    by: str = "operator",
    reason: str | None = None,
) -> None:
    """For the operator API (a tenant's first owner) and the platform's own processes
    (``by``: a merchant's approval makes its owner, a staff invitation its staff, both
    checked where they were decided): as the system, so without the escalation check,
    and idempotent (an assignment that exists is kept)."""
    actor = system_principal(by)  # the audit record names who is acting
    await _assign(actor, user_id, role_key, merchant_id, reason, keep_existing=True)


async def _ensure_owner_remains(leaving: set[int]) -> None:
    """Refuse when the owners ``leaving`` are the last active, tenant-wide ones. Locks
    the owner role's row first, so concurrent removals of owners take turns."""
    await Role.filter(key=OWNER).select_for_update().first()
    remaining = (
        await RoleAssignment.filter(
            role__key=OWNER, merchant_id__isnull=True, user__status=UserStatus.ACTIVE
        )
        .exclude(user_id__in=list(leaving))
        .count()
    )
    if not remaining:
        message = "the tenant must keep an active owner: make someone else owner first"
        raise fail("userId", "LAST_OWNER", message)


async def remove_assignments(
    actor: Principal, assignments: Sequence[RoleAssignment], reason: str | None
) -> None:
    """Take the assignments away (no escalation check: callers do theirs), keeping an
    owner. Inside the caller's transaction; the caller drops the cached access."""
    roles = {r.id: r for r in await Role.filter(id__in={a.role_id for a in assignments})}
    leaving = {
        a.user_id for a in assignments if roles[a.role_id].key == OWNER and a.merchant_id is None
    }
    if leaving:
        await _ensure_owner_remains(leaving)
    for a in assignments:
        await RoleAssignment.filter(id=a.id).delete()
        await _record(
            ChangeAction.ROLE_UNASSIGNED, roles[a.role_id], actor, reason,
            user_id=a.user_id, merchant_id=a.merchant_id,
        )  # fmt: skip


async def unassign(
    actor: Principal,
    user_id: int,
    role_key: str,
    *,
    merchant_id: int | None = None,
    reason: str | None = None,
) -> None:
    """Take the role away; ``actor`` must hold what it grants (as for assigning it)."""
    errors: list[FieldError] = []
    reason = clean_reason(reason, errors)
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        role, _ = await assignable_role(actor, role_key, merchant_id)
        assignment = await _assignment_query(user_id, role.id, merchant_id).first()
        if assignment is None:
            message = "the user does not hold this role (for this merchant)"
            raise fail("roleKey", "ASSIGNMENT_NOT_FOUND", message)
        await remove_assignments(actor, [assignment], reason)
    ACCESS_CACHE.forget_user(current_tenant().id, user_id)
