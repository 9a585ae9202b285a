"""userCreate with an idempotency key: the first user of the API's idempotency keys
(``schema.idempotency``), over the real schema and engine, on each backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from schema.audit.models import AuditRecord
from schema.core.nodes import to_global_id
from schema.idempotency.models import IdempotencyKey, KeyStatus
from schema.idempotency.service import claim, request_hash
from schema.identity.api import UserCreateInput
from schema.identity.models import User
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.graphql import gql
from tests.schema.identity.conftest import mails
from tests.schema.principals import user_with

CREATE = """mutation C($input: UserCreateInput!, $key: String) {
  userCreate(input: $input, idempotencyKey: $key) {
    user { id email fullName }
    errors { field code }
  }
}"""
ADMIN = user_with("users:manage", user_id=7)
NEW = {"email": "new@example.com", "fullName": "New"}


async def create(
    tenant: TenantRecord, key: str | None, data: dict[str, Any] = NEW, admin: Any = ADMIN
) -> dict[str, Any]:
    payload = await gql(tenant, admin, CREATE, input=data, key=key)
    result: dict[str, Any] = payload["data"]["userCreate"]
    return result


def refused(code: str) -> dict[str, Any]:
    return {"user": None, "errors": [{"field": ["idempotencyKey"], "code": code}]}


async def state(tenant: TenantRecord) -> tuple[list[str], list[str], list[tuple[str, ...]]]:
    """The users' emails, the mails asked for, and the keys (subject, operation, key,
    status)."""
    async with tenant_scope(tenant):
        users = [u.email for u in await User.all().order_by("id")]
        sent = [f"{m['template']}:{m['to']}" for m in await mails()]
        keys = [
            (k.subject, k.operation, k.key, k.status.value)
            for k in await IdempotencyKey.all().order_by("id")
        ]
    return users, sent, keys


async def test_the_same_key_and_input_replay_the_first_result(acme: TenantRecord) -> None:
    first = await create(acme, "order-1")
    again = await create(acme, "order-1")

    async with tenant_scope(acme):
        user = await User.get(email="new@example.com")
        replay = await AuditRecord.all().order_by("-id").first()
    made = {"id": to_global_id("User", user.id), "email": "new@example.com", "fullName": "New"}
    assert first == again == {"user": made, "errors": []}
    assert await state(acme) == (
        ["new@example.com"],
        ["set_password:new@example.com"],
        [("user:7", "userCreate", "order-1", "done")],
    )
    assert replay is not None
    assert (replay.operation, replay.targets, replay.summary, replay.actor_subject) == (
        "userCreate",
        f'["User:{user.id}"]',
        '{"replayed":true}',
        "user:7",
    )


async def test_the_same_key_with_other_input_is_refused_and_writes_nothing(
    acme: TenantRecord,
) -> None:
    await create(acme, "order-1")
    before = await state(acme)

    other = await create(acme, "order-1", {"email": "other@example.com", "fullName": "Other"})

    assert other == refused("IDEMPOTENCY_KEY_REUSED")
    assert await state(acme) == before


async def test_keys_belong_to_one_principal_and_one_mutation(acme: TenantRecord) -> None:
    await create(acme, "order-1")

    colleague = await create(acme, "order-1", admin=user_with("users:manage", user_id=8))

    assert colleague == {"user": None, "errors": [{"field": ["email"], "code": "EMAIL_TAKEN"}]}
    assert (await state(acme))[2] == [("user:7", "userCreate", "order-1", "done")]


async def test_a_refused_request_leaves_the_key_free(acme: TenantRecord) -> None:
    bad = await create(acme, "order-1", {"email": "", "fullName": "New"})
    fixed = await create(acme, "order-1")

    assert bad == {"user": None, "errors": [{"field": ["email"], "code": "REQUIRED"}]}
    assert fixed["errors"] == []
    assert await state(acme) == (
        ["new@example.com"],
        ["set_password:new@example.com"],
        [("user:7", "userCreate", "order-1", "done")],
    )


async def test_without_a_key_nothing_is_kept(acme: TenantRecord) -> None:
    first = await create(acme, None)
    second = await create(acme, None)

    assert first["errors"] == []
    assert second == {"user": None, "errors": [{"field": ["email"], "code": "EMAIL_TAKEN"}]}
    assert (await state(acme))[2] == []


async def test_malformed_keys_are_refused(acme: TenantRecord) -> None:
    for key in ("", "k" * 201, "clé", "tab\there"):
        assert await create(acme, key) == refused("IDEMPOTENCY_KEY_INVALID")
    assert (await create(acme, "k" * 200))["errors"] == []
    assert (await state(acme))[0] == ["new@example.com"]


async def test_a_key_at_work_is_in_use_until_its_claim_goes_stale(acme: TenantRecord) -> None:
    digest = request_hash(UserCreateInput(email="new@example.com", full_name="New"))
    async with tenant_scope(acme):
        held = await claim("user:7", "userCreate", "order-1", digest)  # a request at work

    busy = await create(acme, "order-1")
    async with tenant_scope(acme):
        old = datetime.now(UTC) - timedelta(minutes=6)  # that request died long ago
        await IdempotencyKey.filter(id=held.id).update(created_at=old)
    taken_over = await create(acme, "order-1")

    assert busy == refused("IDEMPOTENCY_KEY_IN_USE")
    assert taken_over["errors"] == []
    assert await state(acme) == (
        ["new@example.com"],
        ["set_password:new@example.com"],
        [("user:7", "userCreate", "order-1", "done")],
    )
    async with tenant_scope(acme):
        row = await IdempotencyKey.get(id=held.id)
    assert (row.status, row.claim_token != held.token) == (KeyStatus.DONE, True)


async def test_concurrent_requests_with_one_key_create_one_user(acme: TenantRecord) -> None:
    results = await asyncio.gather(*(create(acme, "order-1") for _ in range(4)))

    async with tenant_scope(acme):
        user = await User.get(email="new@example.com")
    made = {"id": to_global_id("User", user.id), "email": "new@example.com", "fullName": "New"}
    # Each one created the user, replayed it, or found the first still at work.
    allowed = ({"user": made, "errors": []}, refused("IDEMPOTENCY_KEY_IN_USE"))
    assert [r for r in results if r not in allowed] == []
    assert {"user": made, "errors": []} in results
    assert await state(acme) == (
        ["new@example.com"],
        ["set_password:new@example.com"],
        [("user:7", "userCreate", "order-1", "done")],
    )
