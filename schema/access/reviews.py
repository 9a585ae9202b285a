"""Periodic access reviews: find stale and excessive access, let a reviewer confirm or
revoke each finding, record every decision.

A review lists three kinds of item:

- ``dormant_account``: an active account holding staff access (a role granting more than
  self-service permissions) that has not signed in for ``dormant_after`` (or never, and
  was made longer ago than that);
- ``privileged_role_holder``: each assignment, held by an active account, of a role that
  grants a privileged permission (``catalog.PRIVILEGED``);
- ``unused_role``: a staff role older than ``unused_after`` whose holders have none who
  signed in during it, or (the tenant's own roles only: templates are a menu) with no
  holder at all.

Revoking takes the access away, never the account: a dormant account loses every role it
holds (deactivating it stays an identity decision, ``users:manage``), a privileged holder
loses that one assignment, an unused role loses its holders and, when it is the tenant's
own, is deleted. The owner rule still holds: revoking the last owner is refused.

A finding is not listed again while it waits in an open review, nor for
``reconfirm_after`` once a reviewer confirmed it. Opening is idempotent per period: the
scheduler's job carries the period, and a second opening of it returns the first review.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from schema.access import service
from schema.access.catalog import PRIVILEGED, SELF_SERVICE
from schema.access.models import (
    AccessReview,
    AccessReviewItem,
    Decision,
    ItemKind,
    ReviewStatus,
    Role,
    RoleAssignment,
)
from schema.audit import service as audit
from schema.core.errors import FieldError, fail, raise_if_any
from schema.core.principal import Principal
from schema.identity.models import User, UserStatus
from tenants.backends import TENANT_ALIAS
from tenants.outbox import JobOutbox, enqueue
from tenants.scope import current_tenant

REVIEW_ACTOR = "access.review"


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    dormant_after: timedelta = timedelta(days=90)
    unused_after: timedelta = timedelta(days=90)
    reconfirm_after: timedelta = timedelta(days=90)


DEFAULT_POLICY = ReviewPolicy()

# (kind, user id, role key, merchant id): what a finding is about.
Subject = tuple[str, int | None, str | None, int | None]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: ItemKind
    user_id: int | None = None
    role_key: str | None = None
    merchant_id: int | None = None
    last_login_at: datetime | None = None
    detail: dict[str, Any] | None = None

    @property
    def subject(self) -> Subject:
        return (self.kind.value, self.user_id, self.role_key, self.merchant_id)


async def request_review(period: str) -> JobOutbox | None:
    """Ask for the current tenant's review of ``period``, once per period however often
    this is called (the scheduler's fan-out)."""
    return await enqueue(
        REVIEW_ACTOR, {"period": period}, queue="maintenance", dedupe_key=f"{REVIEW_ACTOR}@{period}"
    )


# --- finding -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Holding:
    user_id: int
    role: Role
    permissions: frozenset[str]
    merchant_id: int | None


async def _holdings() -> tuple[list[_Holding], list[Role]]:
    """Every assignment with its role's permissions, and the staff roles (those granting
    more than self-service)."""
    roles = await Role.all().order_by("key")
    permissions = await service.role_permissions(r.id for r in roles)
    by_id = {r.id: r for r in roles}
    rows = (
        await RoleAssignment.all().order_by("id").values_list("user_id", "role_id", "merchant_id")
    )
    holdings = [_Holding(u, by_id[r], permissions[r], m) for u, r, m in rows]
    return holdings, [r for r in roles if permissions[r.id] - SELF_SERVICE]


def _last_seen(user: User) -> datetime:
    return user.last_login_at or user.created_at


def _signed_in_since(user: User | None, since: datetime) -> bool:
    return user is not None and user.last_login_at is not None and user.last_login_at >= since


def _dormant(holdings: list[_Holding], users: dict[int, User], since: datetime) -> list[Finding]:
    staff_roles: defaultdict[int, set[str]] = defaultdict(set)
    for h in holdings:
        if h.permissions - SELF_SERVICE:
            staff_roles[h.user_id].add(h.role.key)
    return [
        Finding(
            ItemKind.DORMANT_ACCOUNT,
            user_id=user_id,
            last_login_at=users[user_id].last_login_at,
            detail={"roles": sorted(keys)},
        )
        for user_id, keys in sorted(staff_roles.items())
        if _last_seen(users[user_id]) < since
    ]


def _privileged(holdings: list[_Holding]) -> list[Finding]:
    return [
        Finding(
            ItemKind.PRIVILEGED_ROLE_HOLDER,
            user_id=h.user_id,
            role_key=h.role.key,
            merchant_id=h.merchant_id,
            detail={"privileged": sorted(h.permissions & PRIVILEGED)},
        )
        for h in holdings
        if h.permissions & PRIVILEGED
    ]


def _unused(
    staff_roles: list[Role], holdings: list[_Holding], users: dict[int, User], since: datetime
) -> list[Finding]:
    holders: defaultdict[int, set[int]] = defaultdict(set)
    for h in holdings:
        holders[h.role.id].add(h.user_id)
    found = []
    for role in staff_roles:
        users_of = holders[role.id]
        if role.created_at >= since or (role.template and not users_of):
            continue
        if not any(_signed_in_since(users.get(u), since) for u in users_of):
            detail = {"holders": len(users_of)}
            found.append(Finding(ItemKind.UNUSED_ROLE, role_key=role.key, detail=detail))
    return found


async def find(now: datetime, policy: ReviewPolicy) -> list[Finding]:
    """What a review opened at ``now`` lists, before leaving out what is already handled."""
    holdings, staff_roles = await _holdings()
    users = {
        u.id: u
        for u in await User.filter(id__in={h.user_id for h in holdings}, status=UserStatus.ACTIVE)
    }
    active = [h for h in holdings if h.user_id in users]
    return [
        *_dormant(active, users, now - policy.dormant_after),
        *_privileged(active),
        *_unused(staff_roles, holdings, users, now - policy.unused_after),
    ]


async def _handled(now: datetime, policy: ReviewPolicy) -> set[Subject]:
    """Subjects waiting in an open review, or confirmed within ``reconfirm_after``."""
    rows = await AccessReviewItem.filter(
        decision__isnull=True, review__status=ReviewStatus.OPEN
    ).values_list("kind", "user_id", "role_key", "merchant_id")
    confirmed = await AccessReviewItem.filter(
        decision=Decision.CONFIRM, decided_at__gte=now - policy.reconfirm_after
    ).values_list("kind", "user_id", "role_key", "merchant_id")
    return {(str(k), u, r, m) for k, u, r, m in [*rows, *confirmed]}


# --- opening -----------------------------------------------------------------------------


async def open_review(
    period: str,
    *,
    now: datetime | None = None,
    policy: ReviewPolicy = DEFAULT_POLICY,
    opened_by: str = "system:scheduler",
) -> AccessReview:
    """The review of ``period``: opened now with its items, or the one opened before."""
    now = now or datetime.now(UTC)
    async with in_transaction(TENANT_ALIAS):
        existing = await AccessReview.get_or_none(period=period)
        if existing is not None:
            return existing
        handled = await _handled(now, policy)
        findings = [f for f in await find(now, policy) if f.subject not in handled]
        try:
            async with in_transaction(TENANT_ALIAS):  # a savepoint: the period's unique index
                review = await AccessReview.create(
                    period=period,
                    dormant_days=policy.dormant_after.days,
                    unused_days=policy.unused_after.days,
                    opened_by=opened_by,
                    status=ReviewStatus.OPEN if findings else ReviewStatus.CLOSED,
                    closed_at=None if findings else now,
                )
        except IntegrityError:
            return await AccessReview.get(period=period)  # opened concurrently
        await AccessReviewItem.bulk_create(
            [
                AccessReviewItem(
                    review=review,
                    kind=f.kind,
                    user_id=f.user_id,
                    role_key=f.role_key,
                    merchant_id=f.merchant_id,
                    last_login_at=f.last_login_at,
                    detail=f.detail,
                )
                for f in findings
            ]
        )
        counts = {kind.value: sum(f.kind is kind for f in findings) for kind in ItemKind}
        await audit.record(
            "accessReviewOpen",
            targets=[f"AccessReview:{review.id}"],
            summary={"period": period, "items": counts},
        )
    return review


# --- deciding ----------------------------------------------------------------------------


async def _revoke(item: AccessReviewItem, actor: Principal, reason: str) -> int:
    """Take away what the item is about; returns how many assignments went."""
    query = RoleAssignment.all()
    if item.kind is ItemKind.DORMANT_ACCOUNT:
        query = query.filter(user_id=item.user_id)
    elif item.kind is ItemKind.PRIVILEGED_ROLE_HOLDER:
        query = query.filter(user_id=item.user_id, role__key=item.role_key)
        query = (
            query.filter(merchant_id__isnull=True)
            if item.merchant_id is None
            else query.filter(merchant_id=item.merchant_id)
        )
    else:
        query = query.filter(role__key=item.role_key)
    assignments = await query.order_by("id")
    await service.remove_assignments(actor, assignments, reason)
    if item.kind is ItemKind.UNUSED_ROLE:
        role = await Role.get_or_none(key=item.role_key, template=False)
        if role is not None:
            await service.remove_role(actor, role, reason)
    return len(assignments)


async def decide_item(
    actor: Principal, item_id: int, decision: Decision, *, reason: str | None = None
) -> AccessReviewItem:
    """Confirm or revoke one item. Nobody decides an item about their own account."""
    errors: list[FieldError] = []
    reason = service.clean_reason(reason, errors)
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        item = await AccessReviewItem.filter(id=item_id).select_for_update().first()
        if item is None:
            raise fail("itemId", "ITEM_NOT_FOUND", "no such review item")
        if item.decision is not None:
            raise fail("itemId", "ALREADY_DECIDED", f"already decided: {item.decision.value}")
        if actor.user_id is not None and item.user_id == actor.user_id:
            raise fail("itemId", "SELF_REVIEW", "another reviewer must decide about you")
        review = await AccessReview.get(id=item.review_id)
        revoked = 0
        if decision is Decision.REVOKE:
            why = f"access review {review.period}, item {item.id}" + (
                f": {reason}" if reason else ""
            )
            revoked = await _revoke(item, actor, why)
        now = datetime.now(UTC)
        item.decision, item.decided_by, item.decided_at, item.reason = (
            decision, actor.subject, now, reason,
        )  # fmt: skip
        await item.save()
        if not await AccessReviewItem.exists(review_id=review.id, decision__isnull=True):
            await AccessReview.filter(id=review.id).update(
                status=ReviewStatus.CLOSED, closed_at=now
            )
        await audit.record(
            "accessReviewItemDecide",
            targets=[f"AccessReviewItem:{item.id}"]
            + ([f"User:{item.user_id}"] if item.user_id is not None else []),
            summary={"decision": decision.value, "reason": reason, "assignments_removed": revoked},
        )
    _forget(item)
    return item


def _forget(item: AccessReviewItem) -> None:
    if item.kind is ItemKind.UNUSED_ROLE:
        service.forget_tenant_access()
    elif item.user_id is not None:
        service.ACCESS_CACHE.forget_user(current_tenant().id, item.user_id)
