"""GraphQL face of the tenant's backups: the list (``backups:read``) and asking for one
(``backups:create``).

Backups are rows of the registry (``tenants.models.Backup``): a tenant sees its own only,
and only what concerns it. Where the platform keeps them (store keys, encryption key ids,
source schema, checksums) and the raw error texts, which may name paths, stay with the
operators.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from tortoise.queryset import QuerySet

from schema.backups import service
from schema.core.mutations import Described, mutation_types
from schema.core.nodes import Node, register_node, row_id, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import ensure_permission, principal_of, requires
from tenants.models import Backup, BackupKind, BackupStatus, VerifyStatus
from tenants.scope import current_tenant

BACKUPS_READ = "backups:read"
BACKUPS_CREATE = "backups:create"
MAX_BACKUP_ID = 2**63 - 1  # the registry's ids are 64-bit
FAILED_MESSAGE = "the backup failed; the platform's operators have the details"
VERIFY_FAILED_MESSAGE = (
    "the backup could not be verified; the platform's operators have the details"
)

strawberry.enum(BackupStatus, name="BackupStatus", description="Where a backup stands.")
strawberry.enum(
    VerifyStatus, name="BackupVerifyStatus", description="Whether a backup was restored to test it."
)


def _short_error(row: Backup) -> str | None:
    if row.status == BackupStatus.FAILED:
        return FAILED_MESSAGE
    if row.verify_status == VerifyStatus.FAILED:
        return VERIFY_FAILED_MESSAGE
    return None


@strawberry.type(name="Backup", description="One backup of the tenant's data.")
class BackupNode(Node):
    status: BackupStatus
    verify_status: VerifyStatus = strawberry.field(
        description="Verified: a restore of it into a scratch store matched its manifest."
    )
    verified_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    schema_version: str | None = strawberry.field(
        description="The data's schema revision: a restore needs a platform that knows it."
    )
    raw_size: float | None = strawberry.field(description="Bytes of the dump, uncompressed.")
    stored_size: float | None = strawberry.field(description="Bytes kept, compressed.")
    requested_by: str = strawberry.field(description="Who asked: scheduler, user:12...")
    error: str | None = strawberry.field(description="Why it failed, in short.")

    @classmethod
    def from_model(cls, row: Backup) -> BackupNode:
        return cls(
            id=to_global_id("Backup", row.id),
            status=row.status,
            verify_status=row.verify_status,
            verified_at=row.verified_at,
            created_at=row.created_at,
            finished_at=row.finished_at,
            schema_version=row.schema_version,
            raw_size=row.raw_size,
            stored_size=row.stored_size,
            requested_by=row.requested_by,
            error=_short_error(row),
        )


def _own_backups() -> QuerySet[Backup]:
    return Backup.filter(tenant_id=current_tenant().id, kind=BackupKind.TENANT)


async def _fetch_backup(key: str, context: object) -> BackupNode | None:
    ensure_permission(context, BACKUPS_READ)
    row = await _own_backups().get_or_none(id=pk) if (pk := row_id(key, MAX_BACKUP_ID)) else None
    return BackupNode.from_model(row) if row else None


register_node("Backup", _fetch_backup)


@strawberry.type
class BackupsQuery:
    @strawberry.field(
        permission_classes=[requires(BACKUPS_READ)],
        description="The tenant's backups, newest first.",
    )
    async def backups(
        self,
        status: BackupStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[BackupNode]:
        query = _own_backups()
        if status is not None:
            query = query.filter(status=status)
        return await paginate(
            query,
            PageRequest(first=first, after=after, last=last, before=before),
            BackupNode.from_model,
            newest_first=True,
        )


@strawberry.input(name="BackupCreateInput")
class BackupCreateInput:
    reason: str | None = strawberry.field(
        default=None, description=f"Why, for the audit trail (at most {service.MAX_REASON_LENGTH})."
    )


BACKUP_CREATE = mutation_types(
    "backupCreate",
    (service.TOO_SOON, service.TOO_LONG),
    requested=Described(bool, "Whether a backup job was enqueued."),
)


async def _requested(_: None) -> dict[str, Any]:
    return {"requested": True}


@strawberry.type
class BackupsMutation:
    @strawberry.mutation(
        permission_classes=[requires(BACKUPS_CREATE)],
        description="Ask for a backup of the tenant's data now (at most one per "
        f"{int(service.MIN_INTERVAL.total_seconds() // 60)} minutes, the scheduler's included).",
    )
    async def backup_create(
        self, info: strawberry.Info, input: BackupCreateInput | None = None
    ) -> BACKUP_CREATE.payload:
        requested_by = principal_of(info.context).subject
        reason = input.reason if input else None
        call = service.ask_for_backup(requested_by=requested_by, reason=reason)
        return await BACKUP_CREATE.run(call, _requested)


QUERIES: list[type] = [BackupsQuery]
MUTATIONS: list[type] = [BackupsMutation]
TYPES: list[type] = [BackupNode]
