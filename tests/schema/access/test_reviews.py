"""Periodic access reviews: what they find, what they leave out, deciding, idempotence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from schema.access.models import AccessChange, AccessReview, AccessReviewItem, Decision, Role
from schema.access.reviews import REVIEW_ACTOR, decide_item, open_review, request_review
from schema.access.service import RoleInput, access_for_user, assign, create_role
from schema.access.templates import OWNER
from schema.core.errors import DomainError
from schema.core.principal import Principal, system_principal
from schema.identity.models import User, UserStatus
from tenants.outbox import JobOutbox
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.access.helpers import make_user, principal_of

SYSTEM = system_principal("test")
# Reviews are opened a year from now: the tenant's roles are then older than any period.
AT = datetime.now(UTC) + timedelta(days=365)
DAY = timedelta(days=1)


@dataclass
class People:
    olga: User  # the owner, signed in yesterday
    ada: User  # administrator, last signed in 200 days ago
    dora: User  # content editor who never signed in
    carl: User  # a customer who never signed in
    ivan: User  # a deactivated administrator
    mo: User  # merchant 7's owner, signed in 5 days ago
    reviewer: Principal  # the owner


async def person(
    email: str, role: str, last_login: datetime | None, merchant: int | None = None
) -> User:
    user = await make_user(email, last_login_at=last_login, merchant_id=merchant)
    await assign(SYSTEM, user.id, role, merchant_id=merchant)
    return user


@pytest.fixture
async def people(acme: TenantRecord) -> People:
    async with tenant_scope(acme):
        olga = await person("olga@acme.example", OWNER, AT - DAY)
        found = People(
            olga=olga,
            ada=await person("ada@acme.example", "administrator", AT - 200 * DAY),
            dora=await person("dora@acme.example", "content_editor", None),
            carl=await person("carl@acme.example", "user", None),
            ivan=await person("ivan@acme.example", "administrator", AT - DAY),
            mo=await person("mo@shop.example", "merchant_owner", AT - 5 * DAY, merchant=7),
            reviewer=await principal_of(olga),
        )
        await User.filter(id=found.ivan.id).update(status=UserStatus.DEACTIVATED)
        await create_role(SYSTEM, "legacy", RoleInput(name="Legacy", permissions=["tasks:read"]))
        fresh = await create_role(
            SYSTEM, "fresh", RoleInput(name="Fresh", permissions=["tasks:read"])
        )
        await Role.filter(id=fresh.id).update(created_at=AT - 10 * DAY)
    return found


async def ids_of(review: AccessReview) -> dict[tuple[str, int | None, str | None], int]:
    """(kind, user id, role key) -> item id."""
    rows = await AccessReviewItem.filter(review=review).values_list(
        "kind", "user_id", "role_key", "id"
    )
    return {(kind, user_id, role_key): item_id for kind, user_id, role_key, item_id in rows}


async def items_of(review: AccessReview) -> list[tuple[str, int | None, str | None, int | None]]:
    rows = await AccessReviewItem.filter(review=review).order_by("id")
    return [(r.kind.value, r.user_id, r.role_key, r.merchant_id) for r in rows]


async def test_a_review_lists_dormant_privileged_and_unused_access(
    acme: TenantRecord, people: People
) -> None:
    p = people
    async with tenant_scope(acme):
        review = await open_review("2026-w1", now=AT)
        found = await items_of(review)
        details = {
            (r.kind.value, r.user_id, r.role_key): (r.detail, r.last_login_at)
            for r in await AccessReviewItem.filter(review=review)
        }
    assert (review.status, review.dormant_days, review.unused_days, review.opened_by) == (
        "open", 90, 90, "system:scheduler",
    )  # fmt: skip
    assert found == [
        ("dormant_account", p.ada.id, None, None),
        ("dormant_account", p.dora.id, None, None),
        ("privileged_role_holder", p.olga.id, OWNER, None),
        ("privileged_role_holder", p.ada.id, "administrator", None),
        ("privileged_role_holder", p.mo.id, "merchant_owner", 7),
        ("unused_role", None, "administrator", None),
        ("unused_role", None, "content_editor", None),
        ("unused_role", None, "legacy", None),
    ]
    assert details[("dormant_account", p.dora.id, None)] == ({"roles": ["content_editor"]}, None)
    assert details[("dormant_account", p.ada.id, None)][1] == p.ada.last_login_at
    assert details[("privileged_role_holder", p.mo.id, "merchant_owner")][0] == {
        "privileged": ["roles:assign"]
    }
    assert details[("unused_role", None, "administrator")][0] == {"holders": 2}
    assert details[("unused_role", None, "legacy")][0] == {"holders": 0}


async def test_opening_is_idempotent_per_period_and_findings_are_not_repeated(
    acme: TenantRecord, people: People
) -> None:
    async with tenant_scope(acme):
        first = await open_review("2026-w1", now=AT)
        again = await open_review("2026-w1", now=AT + DAY)
        assert again.id == first.id
        assert await AccessReviewItem.all().count() == 8

        # Still waiting in the first review: the next week's review lists nothing new.
        second = await open_review("2026-w2", now=AT + 7 * DAY)
        assert (await items_of(second), second.status) == ([], "closed")
        assert second.closed_at is not None

        # Decided: confirmed findings wait for reconfirmation, revoked ones are gone.
        items = await ids_of(first)
        await decide_item(
            people.reviewer, items[("dormant_account", people.ada.id, None)], Decision.CONFIRM
        )
        await decide_item(people.reviewer, items[("unused_role", None, "legacy")], Decision.REVOKE)
        await AccessReviewItem.filter(review_id=first.id, decision__isnull=True).update(
            decision=Decision.CONFIRM, decided_by="user:1"
        )
        await AccessReviewItem.filter(review_id=first.id).update(decided_at=AT)  # review time
        third = await open_review("2026-w3", now=AT + 14 * DAY)
        assert await items_of(third) == []
        # After the reconfirmation period, what is still true is listed again.
        fourth = await open_review("2026-w20", now=AT + 100 * DAY)
        kinds = {(k, r) for k, _, r, _ in await items_of(fourth)}
    assert ("unused_role", "legacy") not in kinds
    assert ("dormant_account", None) in kinds


async def test_a_review_is_requested_once_per_period(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        assert await request_review("2026-06-29") is not None
        assert await request_review("2026-06-29") is None
        [job] = await JobOutbox.all()
    assert (job.actor, job.queue, job.decoded_args(), job.dedupe_key) == (
        REVIEW_ACTOR, "maintenance", {"period": "2026-06-29"}, "access.review@2026-06-29",
    )  # fmt: skip


async def decided(item_id: int) -> tuple[str | None, str | None, str | None]:
    row = await AccessReviewItem.get(id=item_id)
    return (row.decision and row.decision.value, row.decided_by, row.reason)


async def test_revoking_takes_access_away_and_is_recorded(
    acme: TenantRecord, people: People
) -> None:
    p = people
    async with tenant_scope(acme):
        review = await open_review("2026-w1", now=AT)
        ids = await ids_of(review)
        dora_before = await access_for_user(p.dora.id)
        item = await decide_item(
            p.reviewer, ids[("dormant_account", p.dora.id, None)], Decision.REVOKE, reason="left"
        )
        assert (item.decision, item.decided_by, item.reason) == (
            "revoke", f"user:{p.olga.id}", "left",
        )  # fmt: skip
        assert (await access_for_user(p.dora.id)).grants.permissions == frozenset()  # type: ignore[union-attr]
        assert dora_before is not None
        assert dora_before.grants.permissions
        [change] = await AccessChange.filter(action="role_unassigned", user_id=p.dora.id)
        assert (change.role_key, change.actor, change.reason) == (
            "content_editor", f"user:{p.olga.id}", f"access review 2026-w1, item {item.id}: left",
        )  # fmt: skip
        assert await User.get(id=p.dora.id).values_list("status", flat=True) == "active"

        # Unused roles: a template loses its holders, the tenant's own role goes.
        await decide_item(p.reviewer, ids[("unused_role", None, "administrator")], Decision.REVOKE)
        await decide_item(p.reviewer, ids[("unused_role", None, "legacy")], Decision.REVOKE)
        assert await Role.exists(key="administrator")
        assert not await Role.exists(key="legacy")
        assert not await AccessChange.exists(role_key="administrator", action="role_deleted")
        admins = await AccessChange.filter(role_key="administrator", action="role_unassigned")
        assert sorted(c.user_id for c in admins) == sorted([p.ada.id, p.ivan.id])

        # A merchant owner's privileged assignment, for that merchant only.
        await decide_item(
            p.reviewer, ids[("privileged_role_holder", p.mo.id, "merchant_owner")], Decision.REVOKE
        )
        assert not (await access_for_user(p.mo.id)).grants.permissions  # type: ignore[union-attr]


async def test_refused_decisions_change_nothing(acme: TenantRecord, people: People) -> None:
    p = people
    async with tenant_scope(acme):
        review = await open_review("2026-w1", now=AT)
        ids = await ids_of(review)
        olga_item = ids[("privileged_role_holder", p.olga.id, OWNER)]
        changes = await AccessChange.all().count()

        async def code(principal: Principal, item_id: int, decision: Decision, **kw: str) -> str:
            with pytest.raises(DomainError) as caught:
                await decide_item(principal, item_id, decision, **kw)
            [error] = caught.value.errors
            return error.code

        assert await code(p.reviewer, olga_item, Decision.CONFIRM) == "SELF_REVIEW"
        # Another reviewer may confirm it, but not revoke the last owner.
        assert await code(SYSTEM, olga_item, Decision.REVOKE) == "LAST_OWNER"
        assert await code(SYSTEM, olga_item + 1000, Decision.CONFIRM) == "ITEM_NOT_FOUND"
        assert await code(SYSTEM, olga_item, Decision.CONFIRM, reason="x" * 1001) == "INVALID"
        assert await decided(olga_item) == (None, None, None)
        assert await AccessChange.all().count() == changes

        await decide_item(SYSTEM, olga_item, Decision.CONFIRM, reason="the owner")
        assert await code(SYSTEM, olga_item, Decision.REVOKE) == "ALREADY_DECIDED"
        assert await decided(olga_item) == ("confirm", "system:test", "the owner")


async def test_the_review_closes_when_every_item_is_decided(
    acme: TenantRecord, people: People
) -> None:
    async with tenant_scope(acme):
        review = await open_review("2026-w1", now=AT)
        item_ids = (
            await AccessReviewItem.filter(review=review).order_by("id").values_list("id", flat=True)
        )
        for item_id in item_ids:
            await decide_item(SYSTEM, item_id, Decision.CONFIRM)
            current = await AccessReview.get(id=review.id)
            assert current.status == ("closed" if item_id == item_ids[-1] else "open")
        assert current.closed_at is not None
