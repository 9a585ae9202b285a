"""Idempotency keys: the same key and input replay the first result; the same key with
other input is refused. Nothing here knows GraphQL (``schema.idempotency.api`` does).

A key is the client's, scoped to one principal (``subject``) and one mutation
(``operation``): two principals, or two mutations, never see each other's keys.

How one request runs with a key:

1. ``claim``, in a short transaction of its own: insert the key's row as ``pending``
   with a random claim token. The unique (subject, operation, key) decides between
   concurrent requests: one inserts, the others find its row and are told
   IDEMPOTENCY_KEY_IN_USE (still pending), IDEMPOTENCY_KEY_REUSED (other input), or
   get the stored reference to replay (done, same input).
2. The caller does the work inside one transaction and, in it, ``complete``s the claim
   with what a replay needs. The change and the "done" commit together, or neither
   does: a crash can never leave a done key without its change, nor a change without
   its done key.
3. When the work is refused or fails, ``release`` deletes the claim, so the client may
   correct the input and send the same key again.

A pending claim older than ``STALE_CLAIM`` belongs to a request that died (its work
rolled back with it): the next request takes it over by changing the token. Should
the old request still be running after all, its ``complete`` matches no row and its
whole transaction rolls back: one of the two does the work, never both. A key expires
``KEY_LIFETIME`` after its claim: an expired key is free again, and ``prune`` deletes
those rows (daily, ``workers/idempotency``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from schema.core.errors import fail
from schema.idempotency.models import IdempotencyKey, KeyStatus
from schema.oauth.config import oauth_config  # holds the configured platform secrets
from tenants.backends import TENANT_ALIAS

KEY_LIFETIME = timedelta(hours=24)
STALE_CLAIM = timedelta(minutes=5)  # far longer than any mutation takes
MAX_KEY_LENGTH = 200
KEY_PATTERN = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")  # printable ASCII
FIELD = "idempotency_key"  # the argument's path in payload errors
_CLAIM_ATTEMPTS = 3  # a row can vanish (released, pruned) between the insert and the read

INVALID = "IDEMPOTENCY_KEY_INVALID"
REUSED = "IDEMPOTENCY_KEY_REUSED"
IN_USE = "IDEMPOTENCY_KEY_IN_USE"
CODES = (INVALID, REUSED, IN_USE)  # splice into each idempotent mutation's codes


@dataclass(frozen=True, slots=True)
class Claim:
    """A request's hold on a key; ``done``: the first request's ``reference`` to replay."""

    id: int
    token: str
    done: bool = False
    reference: Any = None


def request_hash(request: Any) -> str:
    """HMAC-SHA-256, keyed from the platform secret, of the canonical JSON of a mutation's
    input: strawberry inputs (dataclasses), enums, dates, decimals, lists and mappings,
    with sorted keys, so equal input hashes equal. Keyed because inputs hold secrets of
    little entropy (an IBAN): a plain digest in the table could be brute-forced by whoever
    reads it. Anything else (an upload: hash its content and pass the digest) is refused
    with TypeError rather than hashed by an address that differs on every request."""
    canonical = orjson.dumps(request, default=_decimal, option=orjson.OPT_SORT_KEYS)
    key = oauth_config().secrets.key("idempotency-request")
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not part of a canonical input: {type(value).__name__}")


def _now() -> datetime:
    return datetime.now(UTC)


async def claim(subject: str, operation: str, key: str, digest: str) -> Claim:
    """Hold ``key`` of ``subject`` for ``operation`` (input hashing to ``digest``), or the
    first request's outcome. Refuses: INVALID (the key's form, or no principal to scope
    it to), REUSED (other input), IN_USE (the first request is still at work)."""
    if not KEY_PATTERN.fullmatch(key):
        raise fail(FIELD, INVALID, f"1-{MAX_KEY_LENGTH} printable ASCII characters")
    if subject == "anonymous":
        raise fail(FIELD, INVALID, "an idempotency key needs a signed-in caller")
    for _ in range(_CLAIM_ATTEMPTS):
        token = secrets.token_hex(16)
        try:
            async with in_transaction(TENANT_ALIAS):  # a savepoint, inside a transaction
                row = await IdempotencyKey.create(
                    subject=subject, operation=operation, key=key, request_hash=digest,
                    claim_token=token, status=KeyStatus.PENDING, created_at=_now(),
                )  # fmt: skip
            return Claim(row.id, token)
        except IntegrityError:
            pass
        found = await IdempotencyKey.get_or_none(subject=subject, operation=operation, key=key)
        if found is None:
            continue
        if _free(found):
            if await _take_over(found, digest, token):
                return Claim(found.id, token)
            continue
        if found.request_hash != digest:
            raise fail(FIELD, REUSED, "this key was used with other input")
        if found.status is KeyStatus.DONE:
            return Claim(found.id, found.claim_token, True, orjson.loads(found.response or "null"))
        break
    raise fail(FIELD, IN_USE, "a request with this key is still at work: try again shortly")


def _free(row: IdempotencyKey) -> bool:
    """Expired, or claimed by a request that died: anyone may claim it again."""
    age = _now() - row.created_at
    return age > KEY_LIFETIME or (row.status is KeyStatus.PENDING and age > STALE_CLAIM)


async def _take_over(row: IdempotencyKey, digest: str, token: str) -> bool:
    """Claim a free row for a new first request; False when another request was faster."""
    taken = await IdempotencyKey.filter(id=row.id, claim_token=row.claim_token).update(
        request_hash=digest, claim_token=token, status=KeyStatus.PENDING, response=None,
        created_at=_now(), completed_at=None,
    )  # fmt: skip
    return taken == 1


async def complete(claim: Claim, reference: Any) -> None:
    """Mark the claim done with ``reference`` (JSON) for replays. Call it inside the
    work's transaction; IN_USE when the claim was taken over meanwhile (the caller's
    transaction must then roll back: the raise does that)."""
    done = await IdempotencyKey.filter(
        id=claim.id, claim_token=claim.token, status=KeyStatus.PENDING
    ).update(status=KeyStatus.DONE, response=orjson.dumps(reference).decode(), completed_at=_now())
    if done != 1:
        raise fail(FIELD, IN_USE, "this key was taken over by another request")


async def release(claim: Claim) -> None:
    """Give a pending claim up (the work was refused or failed): the key is free again."""
    await IdempotencyKey.filter(
        id=claim.id, claim_token=claim.token, status=KeyStatus.PENDING
    ).delete()


async def prune(now: datetime | None = None) -> int:
    """Delete the keys that expired; returns how many."""
    return await IdempotencyKey.filter(created_at__lt=(now or _now()) - KEY_LIFETIME).delete()
