"""GraphQL face of the audit trail: ``auditRecords`` and ``auditChainStatus`` for
auditors, and ``AuditMutation``, the field extension that ``schema.root`` puts on every
mutation so that each one is recorded without its domain having to remember.

``QUERIES``, ``MUTATIONS`` and extra ``TYPES`` are merged into the root schema by
``schema.root``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from enum import Enum
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError
from strawberry.extensions.field_extension import FieldExtension
from strawberry.scalars import JSON
from strawberry.types.base import get_object_definition

from schema.audit import service
from schema.audit.models import AuditRecord
from schema.audit.service import Acting, BreakKind, RecordFilter, acting_as
from schema.core.errors import ErrorCode, PublicError
from schema.core.nodes import Node, from_global_id, register_node, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import ensure_permission, principal_of, requires
from tenants.errors import TenancyError

READ_PERMISSION = "audit:read"
log = logging.getLogger("saas.audit")

# --- reading the trail ------------------------------------------------------------------

AuditBreakKind = strawberry.enum(BreakKind, name="AuditBreakKind")


@strawberry.type(name="AuditRecord", description="One audited operation, hash-chained.")
class AuditRecordType(Node):
    sequence: int = strawberry.field(description="Place in the tenant's chain: 1, 2, 3...")
    occurred_at: datetime
    actor: str = strawberry.field(description="user:12, client:abc, system:name or anonymous.")
    actor_kind: str = strawberry.field(description="user, client, system or anonymous.")
    client_id: str | None = strawberry.field(description="The OAuth client, if any.")
    tenant_id: str
    operation: str = strawberry.field(description="The mutation or event, e.g. userRegister.")
    targets: list[str] = strawberry.field(description='What it touched, as "Type:id".')
    outcome: str = strawberry.field(description='"success" or a failure code.')
    source_address: str | None
    request_id: str | None
    summary: JSON = strawberry.field(description="What changed (never secrets).")
    prev_hash: str
    hash: str

    @classmethod
    def from_model(cls, row: AuditRecord) -> AuditRecordType:
        return cls(
            id=to_global_id("AuditRecord", row.id),
            sequence=row.id,
            occurred_at=row.occurred_at,
            actor=row.actor_subject,
            actor_kind=row.actor_kind,
            client_id=row.client_id,
            tenant_id=row.tenant_id,
            operation=row.operation,
            targets=orjson.loads(row.targets),
            outcome=row.outcome,
            source_address=row.source_address,
            request_id=row.request_id,
            summary=orjson.loads(row.summary),
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


@strawberry.input(description="Records matching every field given.")
class AuditRecordFilter:
    actor: str | None = strawberry.field(default=None, description="e.g. user:12.")
    operation: str | None = None
    target: str | None = strawberry.field(default=None, description='"Type:id".')
    outcome: str | None = None
    occurred_after: datetime | None = strawberry.field(default=None, description="Inclusive.")
    occurred_before: datetime | None = strawberry.field(default=None, description="Exclusive.")

    def to_filter(self) -> RecordFilter:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(RecordFilter)}
        too_long = sorted(k for k, v in values.items() if isinstance(v, str) and len(v) > 200)
        if too_long:
            raise PublicError(
                f"the {too_long[0]} filter is longer than 200 characters", ErrorCode.BAD_REQUEST
            )
        return RecordFilter(**values)


@strawberry.type
class AuditChainBreak:
    kind: AuditBreakKind  # type: ignore[valid-type]
    sequence: int = strawberry.field(description="The record where the chain breaks.")
    message: str


@strawberry.type(description="The result of verifying the tenant's audit chain now.")
class AuditChainStatus:
    intact: bool
    checked_records: int
    head_sequence: int
    head_hash: str
    problem: AuditChainBreak | None = strawberry.field(description="The first break, if any.")


async def _fetch_record(key: str, context: object) -> AuditRecordType | None:
    ensure_permission(context, READ_PERMISSION)
    row = await AuditRecord.get_or_none(id=int(key)) if key.isdigit() else None
    return AuditRecordType.from_model(row) if row else None


register_node("AuditRecord", _fetch_record)


@strawberry.type
class AuditQuery:
    @strawberry.field(
        permission_classes=[requires(READ_PERMISSION)],
        description="The tenant's audit trail, newest first.",
    )
    async def audit_records(
        self,
        filter: AuditRecordFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AuditRecordType]:
        where = filter.to_filter() if filter else RecordFilter()
        return await paginate(
            service.find_records(where),
            PageRequest(first=first, after=after, last=last, before=before),
            AuditRecordType.from_model,
            newest_first=True,
        )

    @strawberry.field(
        permission_classes=[requires(READ_PERMISSION)],
        description="Verify the whole chain now: every record, in order.",
    )
    async def audit_chain_status(self) -> AuditChainStatus:
        report = await service.verify_chain()
        problem = report.problem
        return AuditChainStatus(
            intact=report.intact,
            checked_records=report.checked,
            head_sequence=report.head_sequence,
            head_hash=report.head_hash,
            problem=AuditChainBreak(
                kind=problem.kind, sequence=problem.sequence, message=problem.message
            )
            if problem
            else None,
        )


# --- auditing every mutation ------------------------------------------------------------

Resolver = Callable[..., Awaitable[Any]]


class AuditMutation(FieldExtension):
    """Records a mutation that its service did not record: a refusal or a crash (raised),
    expected errors (a payload with ``errors``), or a success, as a generic record with
    the ids found in the payload. Outermost on the field, so that it sees the permission
    checks' refusals too. The operation is the GraphQL field name (``userRegister``)."""

    async def resolve_async(
        self, next_: Resolver, source: Any, info: strawberry.Info, **kwargs: Any
    ) -> Any:
        context = info.context
        acting = Acting(
            principal_of(context),
            getattr(context, "source_address", None),
            getattr(context, "request_id", None),
        )
        operation = info.field_name
        with acting_as(acting), service.tracking_records() as recorded:
            try:
                result = await next_(source, info, **kwargs)
            except Exception as error:
                await _record_safely(
                    operation, outcome=_failure_code(error), summary=_failure_summary(error)
                )
                raise
            errors = getattr(result, "errors", None)
            if errors:
                if all(outcome == service.SUCCESS for outcome in recorded):
                    await _record_safely(
                        operation, outcome=_error_code(errors[0]), summary=_errors_summary(errors)
                    )
            elif not recorded:
                await _record_safely(operation, targets=list(targets_in(result)))
        return result


def audit_mutations(mutation: type) -> type:
    """Put ``AuditMutation`` outermost on every field of the Mutation root (idempotent)."""
    for field in get_object_definition(mutation, strict=True).fields:
        if not any(isinstance(e, AuditMutation) for e in field.extensions):
            field.extensions.append(AuditMutation())  # the last one runs outermost
    return mutation


async def _record_safely(operation: str, **details: Any) -> None:
    """A failure to record must not hide the mutation's own outcome: it is logged."""
    try:
        await service.record(operation, **details)
    except Exception:
        log.exception("audit record of %s not written", operation)


def _failure_code(error: Exception) -> str:
    if isinstance(error, GraphQLError):
        code = (error.extensions or {}).get("code")
        if isinstance(code, str) and service.is_outcome(code):
            return code
    if isinstance(error, TenancyError):
        return error.code
    return ErrorCode.INTERNAL_SERVER_ERROR.value


def _failure_summary(error: Exception) -> dict[str, Any]:
    """The error's kind only: a crash's message may hold anything, secrets included."""
    if isinstance(error, PublicError | TenancyError):
        return {}
    return {"exception": type(error).__name__}


def _error_code(error: Any) -> str:
    """An error's code as the client sees it: the enum member's name."""
    code = getattr(error, "code", None)
    name = code.name if isinstance(code, Enum) else str(code)
    return name if service.is_outcome(name) else "ERROR"


def _errors_summary(errors: list[Any]) -> dict[str, Any]:
    return {
        "errors": [
            {"field": ".".join(getattr(e, "field", None) or ()), "code": _error_code(e)}
            for e in errors[:10]
        ]
    }


def targets_in(payload: Any) -> Iterator[str]:
    """``Type:id`` of the payload and of the objects (or lists of them) it holds,
    one level down, wherever an ``id`` is a global ID."""
    values = [payload]
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        values += [getattr(payload, f.name, None) for f in dataclasses.fields(payload)]
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            global_id = getattr(item, "id", None)
            if isinstance(global_id, str):
                try:
                    type_name, key = from_global_id(global_id)
                except PublicError:
                    continue
                target = f"{type_name}:{key}"
                if service.is_target(target):
                    yield target


QUERIES: list[type] = [AuditQuery]
MUTATIONS: list[type] = []
TYPES: list[type] = [AuditRecordType]
