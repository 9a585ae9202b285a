"""Recording and verifying the audit trail.

``record()`` appends one record to the current tenant's chain, inside the caller's
transaction when there is one, so a change and its record commit or roll back
together. Who acts comes from ``acting_as()``, set by the edge (GraphQL
request, OAuth endpoint) or by a job.

The chain: each record's ``hash`` is SHA-256 over a canonical serialization of its
fields and the previous record's hash (``prev_hash``); the head row holds the last
sequence number and hash. Appends lock the head row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite write transactions are serialized already, ``BEGIN IMMEDIATE``), so
sequence numbers have no gaps and hashes follow each other. Holding that lock until the
caller commits serializes a tenant's audited transactions from their ``record()`` on:
call it last in a transaction. ``verify_chain()`` walks the records in order and names
the first break. Anyone able to rewrite every record and the head consistently escapes
it: keep the head hash that ``saas audit verify`` prints somewhere else to catch that.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.connection import connections
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from schema.audit.models import AuditChainHead, AuditRecord, AuditTarget
from schema.core.principal import Principal, system_principal
from tenants.backends import TENANT_ALIAS
from tenants.scope import current_tenant

SUCCESS = "success"
GENESIS = "0" * 64  # the prev_hash of record 1 (written by revision t0006)
HEAD_ID = 1
MAX_SUMMARY_BYTES = 4096
MAX_TARGETS = 100
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_OPERATION = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,99}")
_OUTCOME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_TARGET = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}:[^\s]{1,135}")
# Keys whose values are never written, at any depth of a summary.
_SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|api_?key|authorization|cookie|credentials?|"
    r"(^|_)hash|code_verifier|private_?key)$",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class Acting:
    """Who is acting, from where, in which request."""

    principal: Principal
    source_address: str | None = None
    request_id: str | None = None


_acting: ContextVar[Acting | None] = ContextVar("acting", default=None)
_UNKNOWN = Acting(system_principal("unknown"))
# The outcomes record() wrote while tracking_records() is on (one GraphQL mutation).
_recorded: ContextVar[list[str] | None] = ContextVar("audit_recorded", default=None)


def current_acting() -> Acting:
    return _acting.get() or _UNKNOWN


@contextlib.contextmanager
def acting_as(acting: Acting) -> Iterator[Acting]:
    token = _acting.set(acting)
    try:
        yield acting
    finally:
        _acting.reset(token)


@contextlib.contextmanager
def tracking_records() -> Iterator[list[str]]:
    """Collect the outcome of every ``record()`` call in the block: how the mutation
    extension knows whether the service recorded the operation itself."""
    outcomes: list[str] = []
    token = _recorded.set(outcomes)
    try:
        yield outcomes
    finally:
        _recorded.reset(token)


# --- recording ----------------------------------------------------------------------------


async def record(
    operation: str,
    *,
    targets: Sequence[str] = (),
    outcome: str = SUCCESS,
    summary: Mapping[str, Any] | None = None,
) -> None:
    """Append a record: ``operation`` (``userRegister``, ``signIn``, ``tokenIssue``...),
    the ids it touched (``User:12``), ``success`` or a failure code, what changed.

    A malformed operation, outcome or target is a programming error (ValueError); a
    summary is redacted (secret-looking keys) and bounded in size, never refused.
    """
    fields = _prepare(operation, targets, str(outcome), summary)
    connection = connections.get(TENANT_ALIAS)
    if isinstance(connection, TransactionalDBClient):
        # Joined without a savepoint: the one write is a single statement (its trigger
        # included), so a failure leaves nothing half-written in the caller's transaction.
        await _append(connection, fields)
    else:
        async with in_transaction(TENANT_ALIAS) as connection:
            await _append(connection, fields)
    recorded = _recorded.get()
    if recorded is not None:
        recorded.append(fields["outcome"])


async def _append(connection: BaseDBAsyncClient, fields: dict[str, Any]) -> None:
    last_sequence, last_hash = await _lock_head(connection)
    # Taken under the lock, so that time follows sequence within a process.
    fields.update(id=last_sequence + 1, occurred_at=datetime.now(UTC), prev_hash=last_hash)
    # Its insert trigger moves the head and indexes the targets (revision t0006); the
    # head's trigger refuses any sequence number but the next one.
    await AuditRecord.create(**fields, hash=chain_hash(fields))


_LOCK_HEAD = {
    "postgres": f"SELECT last_sequence, last_hash FROM audit_chain_head WHERE id = {HEAD_ID} "
    "FOR UPDATE",
    # SQLite's write transactions are serialized (BEGIN IMMEDIATE): nothing to lock.
    "sqlite": f"SELECT last_sequence, last_hash FROM audit_chain_head WHERE id = {HEAD_ID}",
}


async def _lock_head(connection: BaseDBAsyncClient) -> tuple[int, str]:
    """The head's sequence and hash, locked until the transaction ends. Plain SQL: the
    query builder cost as much as the round trip."""
    _, rows = await connection.execute_query(_LOCK_HEAD[connection.capabilities.dialect])
    if not rows:
        raise RuntimeError("the audit chain's head row is missing: the trail was tampered with")
    return int(rows[0][0]), str(rows[0][1])


def _prepare(
    operation: str, targets: Sequence[str], outcome: str, summary: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The record's fields that do not depend on its place in the chain."""
    if not _OPERATION.fullmatch(operation):
        raise ValueError(f"audit operation {operation[:120]!r} is not an operation name")
    if not is_outcome(outcome):
        raise ValueError(f"audit outcome {outcome[:80]!r} is not 'success' or a code")
    unique = list(dict.fromkeys(str(t) for t in targets))
    malformed = [t for t in unique if not is_target(t)]
    if malformed:
        raise ValueError(f"audit targets must look like 'Type:id', not {malformed[0][:220]!r}")
    details = dict(summary or {})
    if len(unique) > MAX_TARGETS:
        details["targets_omitted"] = len(unique) - MAX_TARGETS
        unique = unique[:MAX_TARGETS]
    acting = current_acting()
    principal = acting.principal
    return {
        "actor_subject": principal.subject[:200],
        "actor_kind": principal.kind.value,
        "client_id": _clip(principal.client_id, 200),
        "tenant_id": current_tenant().id,
        "operation": operation,
        "targets": orjson.dumps(unique).decode(),
        "outcome": outcome,
        "source_address": _clip(acting.source_address, 64),
        "request_id": _clip(acting.request_id, 100),
        "summary": summary_json(details),
    }


def _clip(value: str | None, size: int) -> str | None:
    """At most ``size`` characters (the column's); None for an empty value."""
    return value[:size] if value else None


def summary_json(summary: Mapping[str, Any]) -> str:
    """The summary as stored: secret-looking keys redacted, keys sorted, anything JSON
    cannot hold as its string, and at most ``MAX_SUMMARY_BYTES`` (else only its keys)."""
    cleaned = _redact(summary)
    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    text = orjson.dumps(cleaned, default=str, option=options)
    if len(text) > MAX_SUMMARY_BYTES:
        keys = sorted(str(k)[:64] for k in cleaned)[:32]
        text = orjson.dumps({"truncated": True, "bytes": len(text), "keys": keys}, option=options)
    return text.decode()


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def chain_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 of a record's canonical form: an explicit field list, keys sorted, the
    time in one fixed format, and ``targets`` and ``summary`` as the JSON text stored
    (as strings: the serialization stays unambiguous whatever that text holds)."""
    occurred_at: datetime = fields["occurred_at"]
    canonical = {
        "sequence": fields["id"],
        "occurred_at": occurred_at.astimezone(UTC).strftime(_TIME_FORMAT),
        "actor_subject": fields["actor_subject"],
        "actor_kind": fields["actor_kind"],
        "client_id": fields["client_id"],
        "tenant_id": fields["tenant_id"],
        "operation": fields["operation"],
        "targets": fields["targets"],
        "outcome": fields["outcome"],
        "source_address": fields["source_address"],
        "request_id": fields["request_id"],
        "summary": fields["summary"],
        "prev_hash": fields["prev_hash"],
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def is_outcome(value: str) -> bool:
    return bool(_OUTCOME.fullmatch(value))


def is_target(value: str) -> bool:
    return bool(_TARGET.fullmatch(value))


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Records matching every field given (None: any)."""

    actor: str | None = None  # the subject: user:12, client:abc...
    operation: str | None = None
    target: str | None = None
    outcome: str | None = None
    occurred_after: datetime | None = None  # inclusive
    occurred_before: datetime | None = None  # exclusive


def find_records(where: RecordFilter) -> QuerySet[AuditRecord]:
    """The matching records, unordered (callers page them by sequence)."""
    query = AuditRecord.all()
    exact = {
        "actor_subject": where.actor,
        "operation": where.operation,
        "outcome": where.outcome,
        "occurred_at__gte": where.occurred_after,
        "occurred_at__lt": where.occurred_before,
    }
    query = query.filter(**{k: v for k, v in exact.items() if v is not None})
    if where.target is not None:
        # Through the target index: "what happened to Order:7" reads no other record.
        ids = AuditTarget.filter(target=where.target).values("record_id")
        query = query.filter(id__in=Subquery(ids))
    return query


# --- verification -------------------------------------------------------------------------


class BreakKind(StrEnum):
    GAP = "gap"  # a record is missing: deleted
    HASH_MISMATCH = "hash_mismatch"  # a record's fields do not give its hash: edited
    PREV_HASH_MISMATCH = "prev_hash_mismatch"  # does not follow its predecessor: rewritten
    HEAD_MISMATCH = "head_mismatch"  # the last record is not the head's: truncated


@dataclass(frozen=True, slots=True)
class ChainBreak:
    kind: BreakKind
    sequence: int  # the record where the chain breaks (the missing one for a gap)
    message: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int  # records verified before the break (all of them when intact)
    head_sequence: int
    head_hash: str
    problem: ChainBreak | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


_HASHED = (
    "id", "occurred_at", "actor_subject", "actor_kind", "client_id", "tenant_id", "operation",
    "targets", "outcome", "source_address", "request_id", "summary", "prev_hash", "hash",
)  # fmt: skip


async def verify_chain(*, batch_size: int = 1000) -> ChainReport:
    """Walk the current tenant's records in order, ``batch_size`` at a time, and report
    the first break. The head is read first: records appended meanwhile are not
    walked, and never count as a break."""
    head = await AuditChainHead.get(id=HEAD_ID)
    expected, prev_hash = 1, GENESIS
    while expected <= head.last_sequence:
        rows = (
            await AuditRecord.filter(id__gte=expected, id__lte=head.last_sequence)
            .order_by("id")
            .limit(batch_size)
            .values(*_HASHED)
        )
        if not rows:
            break
        for row in rows:
            problem = _check(row, expected, prev_hash)
            if problem is not None:
                return ChainReport(expected - 1, head.last_sequence, head.last_hash, problem)
            expected, prev_hash = expected + 1, row["hash"]
    checked = expected - 1
    problem = _check_head(head, checked, prev_hash) or await _beyond_head()
    return ChainReport(checked, head.last_sequence, head.last_hash, problem)


def _check(row: Mapping[str, Any], expected: int, prev_hash: str) -> ChainBreak | None:
    sequence = row["id"]
    if sequence != expected:
        return ChainBreak(
            BreakKind.GAP,
            expected,
            f"record {expected} is missing (the next one is {sequence}): it was deleted",
        )
    if chain_hash(row) != row["hash"]:
        return ChainBreak(
            BreakKind.HASH_MISMATCH,
            sequence,
            f"record {sequence} does not match its hash: it was changed after it was written",
        )
    if row["prev_hash"] != prev_hash:
        return ChainBreak(
            BreakKind.PREV_HASH_MISMATCH,
            sequence,
            f"record {sequence} does not follow record {sequence - 1}: its prev_hash is not "
            f"that record's hash (record {sequence - 1} was rewritten, or this one forged)",
        )
    return None


def _check_head(head: AuditChainHead, last: int, last_hash: str) -> ChainBreak | None:
    if last != head.last_sequence:
        return ChainBreak(
            BreakKind.HEAD_MISMATCH,
            last + 1,
            f"the records end at {last} but the chain's head is at {head.last_sequence}: "
            "the newest records were deleted",
        )
    if last_hash != head.last_hash:
        return ChainBreak(
            BreakKind.HEAD_MISMATCH,
            last,
            f"record {last} is not the one the chain's head holds: it was rewritten",
        )
    return None


async def _beyond_head() -> ChainBreak | None:
    """Records past the head that no append wrote: the highest id is read before the
    head, and an append moves both in one transaction, so a legitimate record is
    never past a head read after it."""
    highest = await AuditRecord.all().order_by("-id").limit(1).values_list("id", flat=True)
    head = await AuditChainHead.get(id=HEAD_ID)
    top = highest[0] if highest else 0
    if top > head.last_sequence:
        return ChainBreak(
            BreakKind.HEAD_MISMATCH,
            head.last_sequence + 1,
            f"records up to {top} lie past the chain's head at {head.last_sequence}: "
            "they were added without being chained",
        )
    return None
