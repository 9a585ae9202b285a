"""The idempotency keys' rules, on each backend: claims, replays, refusals, takeovers,
expiry and the prune."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum

import orjson
import pytest
from tortoise.transactions import in_transaction

from schema.core.errors import DomainError
from schema.core.secrets import SecretRing
from schema.idempotency.models import IdempotencyKey, KeyStatus
from schema.idempotency.service import (
    Claim,
    claim,
    complete,
    prune,
    release,
    request_hash,
)
from schema.identity.models import User
from schema.oauth.config import configure_oauth, oauth_config
from tenants.backends import TENANT_ALIAS
from tenants.records import TenantRecord
from tenants.scope import tenant_scope

SUBJECT, OPERATION, KEY = "user:7", "thingCreate", "k-1"
FIRST, OTHER = request_hash({"name": "first"}), request_hash({"name": "other"})


def codes(caught: pytest.ExceptionInfo[DomainError]) -> list[tuple[tuple[str, ...], str]]:
    return [(e.field, e.code) for e in caught.value.errors]


async def age(held: Claim, by: timedelta) -> None:
    await IdempotencyKey.filter(id=held.id).update(created_at=datetime.now(UTC) - by)


async def test_a_done_key_replays_for_the_same_input_and_refuses_other_input(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        held = await claim(SUBJECT, OPERATION, KEY, FIRST)
        async with in_transaction(TENANT_ALIAS):
            await complete(held, {"id": 12})
        again = await claim(SUBJECT, OPERATION, KEY, FIRST)
        with pytest.raises(DomainError) as other:
            await claim(SUBJECT, OPERATION, KEY, OTHER)
        elsewhere = await claim(SUBJECT, "thingDelete", KEY, OTHER)
        row = await IdempotencyKey.get(id=held.id)
    assert (held.done, again.done, again.reference, again.id) == (False, True, {"id": 12}, held.id)
    assert codes(other) == [(("idempotency_key",), "IDEMPOTENCY_KEY_REUSED")]
    assert (elsewhere.done, elsewhere.id != held.id) == (False, True)
    assert (row.status, row.response, row.request_hash) == (KeyStatus.DONE, '{"id":12}', FIRST)
    assert row.completed_at is not None


async def test_a_pending_key_is_in_use_and_a_released_one_free(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        held = await claim(SUBJECT, OPERATION, KEY, FIRST)
        with pytest.raises(DomainError) as busy:
            await claim(SUBJECT, OPERATION, KEY, FIRST)
        with pytest.raises(DomainError) as other:
            await claim(SUBJECT, OPERATION, KEY, OTHER)
        await release(held)
        fresh = await claim(SUBJECT, OPERATION, KEY, OTHER)
        rows = await IdempotencyKey.all().values_list("request_hash", "status")
    assert codes(busy) == [(("idempotency_key",), "IDEMPOTENCY_KEY_IN_USE")]
    assert codes(other) == [(("idempotency_key",), "IDEMPOTENCY_KEY_REUSED")]
    assert (fresh.done, rows) == (False, [(OTHER, KeyStatus.PENDING)])


async def late_completion(stale: Claim) -> None:
    """The stale request's work and completion, in one transaction."""
    async with in_transaction(TENANT_ALIAS):
        await User.create(email="late@example.com", full_name="Late")
        await complete(stale, {"id": 1})


async def test_a_stale_claim_is_taken_over_and_its_late_completion_rolls_back(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        stale = await claim(SUBJECT, OPERATION, KEY, FIRST)
        await age(stale, timedelta(minutes=6))
        taken = await claim(SUBJECT, OPERATION, KEY, OTHER)
        with pytest.raises(DomainError) as late:
            await late_completion(stale)
        await release(stale)  # what the API does after a failure: nothing of the new claim
        async with in_transaction(TENANT_ALIAS):
            await complete(taken, {"id": 2})
        users = await User.all().values_list("email", flat=True)
        row = await IdempotencyKey.get(id=stale.id)
    assert codes(late) == [(("idempotency_key",), "IDEMPOTENCY_KEY_IN_USE")]
    assert (taken.id, users) == (stale.id, [])
    assert (row.status, row.response, row.request_hash) == (KeyStatus.DONE, '{"id":2}', OTHER)


async def test_an_expired_key_is_free_again_and_pruned(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        expired = await claim(SUBJECT, OPERATION, "old", FIRST)
        async with in_transaction(TENANT_ALIAS):
            await complete(expired, {"id": 1})
        kept = await claim(SUBJECT, OPERATION, "recent", FIRST)
        await age(expired, timedelta(hours=25))
        await age(kept, timedelta(hours=23))
        reused = await claim(SUBJECT, OPERATION, "old", OTHER)  # not pruned yet: free anyway
        await age(reused, timedelta(hours=24, seconds=1))
        pruned = await prune()
        left = await IdempotencyKey.all().values_list("key", flat=True)
    assert (reused.done, reused.id) == (False, expired.id)
    assert (pruned, left) == (1, ["recent"])


async def test_malformed_keys_and_anonymous_callers_are_refused(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        refusals = []
        for subject, key in [
            (SUBJECT, ""),
            (SUBJECT, "é"),
            (SUBJECT, "x" * 201),
            ("anonymous", "k"),
        ]:
            with pytest.raises(DomainError) as caught:
                await claim(subject, OPERATION, key, FIRST)
            refusals += codes(caught)
        assert await IdempotencyKey.all().count() == 0
    assert refusals == [(("idempotency_key",), "IDEMPOTENCY_KEY_INVALID")] * 4


class Colour(Enum):
    RED = "red"


def test_the_request_hash_is_canonical() -> None:
    one = {"b": [1, 2], "a": {"y": Colour.RED, "x": Decimal("1.50")}}
    same = {"a": {"x": Decimal("1.50"), "y": Colour.RED}, "b": [1, 2]}
    assert request_hash(one) == request_hash(same)
    assert request_hash(one) != request_hash({**one, "b": [2, 1]})
    assert len(request_hash(one)) == 64
    with pytest.raises(TypeError):
        request_hash({"file": object()})


def test_the_request_hash_is_keyed_by_the_platform_secret() -> None:
    """A plain digest of an input holding an IBAN could be brute-forced from the table."""
    request = {"iban": "DE89370400440532013000"}
    canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    keyed = request_hash(request)
    assert keyed != hashlib.sha256(canonical).hexdigest()
    previous = oauth_config()
    configure_oauth(replace(previous, secrets=SecretRing(("another-secret",))))
    try:
        assert request_hash(request) != keyed
    finally:
        configure_oauth(previous)
