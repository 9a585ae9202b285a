"""Recording: what a record holds, the chain it joins, transactions and concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
from tortoise.transactions import in_transaction

from schema.audit.models import AuditChainHead, AuditRecord, AuditTarget
from schema.audit.service import (
    GENESIS,
    MAX_SUMMARY_BYTES,
    MAX_TARGETS,
    REDACTED,
    Acting,
    acting_as,
    chain_hash,
    current_acting,
    record,
    tracking_records,
    verify_chain,
)
from schema.core.principal import Principal, PrincipalKind, system_principal
from schema.settings.models import SettingsChange
from schema.settings.service import SettingsChanges, update_settings
from tenants.backends import TENANT_ALIAS
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.audit.helpers import trail
from tests.schema.principals import user_with

ALICE = Acting(user_with("users:write", user_id=12), "203.0.113.7", "req-1")
CLIENT = Principal(PrincipalKind.CLIENT, client_id="shop-backend")


async def head() -> tuple[int, str]:
    row = await AuditChainHead.get(id=1)
    return row.last_sequence, row.last_hash


async def test_a_record_holds_who_what_where_and_joins_the_chain(acme: TenantRecord) -> None:
    before = datetime.now(UTC)
    async with tenant_scope(acme):
        with acting_as(ALICE):
            await record(
                "userRegister",
                targets=["User:12", "User:12", "Role:3"],
                summary={"email": "a@example.com", "full_name": "Alice"},
            )
        rows = await AuditRecord.all().values()
        targets = await AuditTarget.all().order_by("id").values_list("target", "record_id")
        chain_head = await head()
    [row] = rows
    assert before <= row["occurred_at"] <= datetime.now(UTC)
    assert {k: v for k, v in row.items() if k not in ("occurred_at", "hash")} == {
        "id": 1,
        "actor_subject": "user:12",
        "actor_kind": "user",
        "client_id": None,
        "tenant_id": acme.id,
        "operation": "userRegister",
        "targets": '["User:12","Role:3"]',
        "outcome": "success",
        "source_address": "203.0.113.7",
        "request_id": "req-1",
        "summary": '{"email":"a@example.com","full_name":"Alice"}',
        "prev_hash": GENESIS,
    }
    assert row["hash"] == chain_hash(row)
    assert len(row["hash"]) == 64
    assert targets == [("User:12", 1), ("Role:3", 1)]
    assert chain_head == (1, row["hash"])


async def test_records_follow_each_other(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        with acting_as(Acting(CLIENT)):
            await record("tokenIssue", targets=["OAuthClient:shop-backend"])
        await record("signIn", outcome="INVALID_CREDENTIALS", summary={"email": "x@y.z"})
        rows = await AuditRecord.all().order_by("id")
        assert await head() == (2, rows[1].hash)
    assert [(r.id, r.actor_subject, r.actor_kind, r.client_id, r.outcome) for r in rows] == [
        (1, "client:shop-backend", "client", "shop-backend", "success"),
        (2, "system:unknown", "system", None, "INVALID_CREDENTIALS"),  # nobody set acting
    ]
    assert rows[1].prev_hash == rows[0].hash
    assert rows[0].occurred_at <= rows[1].occurred_at


async def change_then_fail() -> None:
    async with in_transaction(TENANT_ALIAS):
        await update_settings(SettingsChanges(name="Acme GmbH"), actor="alice")
        await record("settingsUpdate", targets=["TenantSettings:1"])
        raise RuntimeError("changed my mind")


async def test_a_record_in_a_transaction_that_rolls_back_leaves_nothing(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        await record("settingsUpdate")
        with pytest.raises(RuntimeError, match="changed my mind"):
            await change_then_fail()
        assert await trail() == [(1, "settingsUpdate", "success", [])]
        assert await AuditTarget.all().count() == 0
        assert await SettingsChange.all().count() == 0
        # The next record takes the rolled-back one's number: no gap.
        await record("settingsUpdate", targets=["TenantSettings:1"])
        assert [r[0] for r in await trail()] == [1, 2]
        assert (await verify_chain()).intact


async def test_a_change_and_its_record_commit_together(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        async with in_transaction(TENANT_ALIAS):
            await update_settings(SettingsChanges(name="Acme GmbH"), actor="alice")
            await record("settingsUpdate", targets=["TenantSettings:1"])
        assert await SettingsChange.all().count() == 1
        assert await trail() == [(1, "settingsUpdate", "success", ["TenantSettings:1"])]


async def test_concurrent_records_make_one_gap_free_chain(acme: TenantRecord) -> None:
    async def append(n: int) -> None:
        with acting_as(Acting(user_with(user_id=n))):
            await record("orderCreate", targets=[f"Order:{n}"])

    async with tenant_scope(acme):
        await asyncio.gather(*(append(n) for n in range(50)))
        rows = await AuditRecord.all().order_by("id")
        report = await verify_chain()
    assert [r.id for r in rows] == list(range(1, 51))
    assert sorted(r.actor_subject for r in rows) == sorted(f"user:{n}" for n in range(50))
    assert report.intact
    assert report.checked == report.head_sequence == 50
    assert report.head_hash == rows[-1].hash


async def test_secrets_are_redacted_at_any_depth(acme: TenantRecord) -> None:
    summary = {
        "password": "hunter2",
        "client": {"client_secret": "s3cr3t", "name": "shop"},
        "grants": [{"refresh_token": "rt", "token_id": "jti-1"}],
        "password_hash": "$argon2id$...",
        "Authorization": "Bearer x",
        "fields": ["password"],
    }
    async with tenant_scope(acme):
        await record("clientCreate", summary=summary)
        stored = orjson.loads((await AuditRecord.get(id=1)).summary)
    assert stored == {
        "password": REDACTED,
        "client": {"client_secret": REDACTED, "name": "shop"},
        "grants": [{"refresh_token": REDACTED, "token_id": "jti-1"}],
        "password_hash": REDACTED,
        "Authorization": REDACTED,
        "fields": ["password"],  # a value naming a field is no secret
    }


async def test_summaries_and_targets_are_bounded(acme: TenantRecord) -> None:
    when = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
    async with tenant_scope(acme):
        await record("bulkImport", summary={"rows": ["x" * 100] * 100, "source": "csv"})
        await record(
            "bulkDelete",
            targets=[f"Item:{n}" for n in range(MAX_TARGETS + 5)],
            summary={"at": when},
        )
        first, second = await AuditRecord.all().order_by("id")
        target_rows = await AuditTarget.filter(record_id=2).count()
    assert orjson.loads(first.summary) == {
        "truncated": True,
        "bytes": len(orjson.dumps({"rows": ["x" * 100] * 100, "source": "csv"})),
        "keys": ["rows", "source"],
    }
    assert len(first.summary) <= MAX_SUMMARY_BYTES
    assert len(orjson.loads(second.targets)) == target_rows == MAX_TARGETS
    assert orjson.loads(second.summary) == {"at": "2025-06-01T12:30:00+00:00", "targets_omitted": 5}


@pytest.mark.parametrize(
    ("operation", "kwargs", "message"),
    [
        ("", {}, "not an operation name"),
        ("user register", {}, "not an operation name"),
        ("x" * 101, {}, "not an operation name"),
        ("userRegister", {"outcome": "went wrong"}, "not 'success' or a code"),
        ("userRegister", {"outcome": ""}, "not 'success' or a code"),
        ("userRegister", {"targets": ["12"]}, "'Type:id'"),
        ("userRegister", {"targets": ["User:"]}, "'Type:id'"),
        ("userRegister", {"targets": ["User:1 2"]}, "'Type:id'"),
        ("userRegister", {"targets": ["User:" + "1" * 200]}, "'Type:id'"),
    ],
)
async def test_a_malformed_record_is_refused_and_writes_nothing(
    acme: TenantRecord, operation: str, kwargs: dict[str, object], message: str
) -> None:
    async with tenant_scope(acme):
        with pytest.raises(ValueError, match=message):
            await record(operation, **kwargs)  # type: ignore[arg-type]
        assert await trail() == []
        assert await head() == (0, GENESIS)


async def test_acting_and_tracking_are_scoped_to_their_block(acme: TenantRecord) -> None:
    assert current_acting().principal == system_principal("unknown")
    with acting_as(ALICE) as acting:
        assert current_acting() is acting
    assert current_acting().principal.subject == "system:unknown"
    async with tenant_scope(acme):
        with tracking_records() as outer:
            await record("a")
            with tracking_records() as inner:
                await record("b", outcome="FORBIDDEN")
            await record("c")
        await record("d")
    assert (outer, inner) == (["success", "success"], ["FORBIDDEN"])


async def test_the_time_is_hashed_in_one_format_whatever_its_zone(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await record("a")
        row = (await AuditRecord.all().values())[0]
    paris = {**row, "occurred_at": row["occurred_at"].astimezone(ZoneInfo("Europe/Paris"))}
    later = {**row, "occurred_at": row["occurred_at"] + timedelta(microseconds=1)}
    assert chain_hash(paris) == row["hash"]
    assert chain_hash(later) != row["hash"]
