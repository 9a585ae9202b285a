"""The tenant registry: Tortoise app ``shared`` on connection alias ``shared``.

Tenant tables never reference these (no foreign keys from a tenant's schema into the
shared store), so a tenant schema can be dumped, restored or moved on its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson
from tortoise import fields
from tortoise.models import Model


class JobStatus(StrEnum):
    PENDING = "pending"  # committed, not yet handed to the broker
    SENT = "sent"  # claimed by a relay and sent
    DONE = "done"  # the actor finished (its database effect committed with this mark)
    FAILED = "failed"  # retries exhausted: a dead letter, visible in `saas jobs failed`


class OutboxRow(Model):
    """The row shape of both outboxes: ``job_outbox`` in each tenant's store and
    ``platform_job`` here. See ``tenants/outbox.py``."""

    id = fields.BigIntField(primary_key=True)
    actor = fields.CharField(max_length=100)
    queue = fields.CharField(max_length=32)
    args = fields.TextField()
    status = fields.CharEnumField(JobStatus, max_length=16, default=JobStatus.PENDING)
    dedupe_key = fields.CharField(max_length=200, null=True, unique=True)
    attempts = fields.IntField(default=0)
    not_before = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    done_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)

    class Meta:
        abstract = True

    def decoded_args(self) -> dict[str, Any]:
        return orjson.loads(self.args)


class TenantStatus(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETING = "deleting"


class Tenant(Model):
    id = fields.CharField(primary_key=True, max_length=26)
    slug = fields.CharField(max_length=63, unique=True)
    display_name = fields.CharField(max_length=200)
    status = fields.CharEnumField(TenantStatus, max_length=16)
    status_reason = fields.TextField(null=True)
    # The SQLite file name or PostgreSQL schema: derived from the id, never from input.
    schema_name = fields.CharField(max_length=63, unique=True)
    # A copy of the version recorded inside the tenant's own schema, so that
    # "who is behind head" is one query on the registry.
    schema_version = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    suspended_at = fields.DatetimeField(null=True)

    class Meta:
        app = "shared"
        table = "tenant"


class TenantDomain(Model):
    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "shared.Tenant", related_name="domains", on_delete=fields.CASCADE
    )
    domain = fields.CharField(max_length=253, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "shared"
        table = "tenant_domain"


class TenantEvent(Model):
    """Who changed a tenant's lifecycle, when and why. Kept after the tenant is deleted."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.CharField(max_length=26, db_index=True)
    slug = fields.CharField(max_length=63)
    action = fields.CharField(max_length=32)
    actor = fields.CharField(max_length=200)
    reason = fields.TextField(null=True)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "shared"
        table = "tenant_event"


class RegistryState(Model):
    """One row whose generation goes up on every tenant change, so every process can
    notice a change with one cheap read instead of re-reading every tenant."""

    id = fields.IntField(primary_key=True)
    generation = fields.BigIntField(default=0)

    class Meta:
        app = "shared"
        table = "registry_state"


class PlatformJob(OutboxRow):
    """Jobs of no tenant (the registry's backup, scheduler fan-outs)."""

    class Meta:
        app = "shared"
        table = "platform_job"


class OutboxHint(Model):
    """Tenants whose outbox may hold unsent rows: written after the commit, so a relay in
    any process can find fresh work without opening every tenant's store."""

    tenant_id = fields.CharField(primary_key=True, max_length=26)
    hinted_at = fields.DatetimeField()

    class Meta:
        app = "shared"
        table = "outbox_hint"


class DeadLetter(Model):
    """Jobs whose retries ran out, across tenants, for `saas jobs failed` and `retry`."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.CharField(max_length=26, null=True)  # None: a platform job
    slug = fields.CharField(max_length=63, null=True)
    job_id = fields.BigIntField()
    actor = fields.CharField(max_length=100)
    queue = fields.CharField(max_length=32)
    error = fields.TextField()
    attempts = fields.IntField()
    failed_at = fields.DatetimeField()
    retried_at = fields.DatetimeField(null=True)
    retried_by = fields.CharField(max_length=200, null=True)

    class Meta:
        app = "shared"
        table = "dead_letter"


class BackupKind(StrEnum):
    TENANT = "tenant"
    REGISTRY = "registry"


class BackupStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class VerifyStatus(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    FAILED = "failed"


class Backup(Model):
    """One backup of a tenant's schema (or of the registry: no tenant) and what its
    manifest says, kept here so listing, retention and scheduling are registry queries.
    Rows outlive their tenant: a deleted tenant's backups can still be restored."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.CharField(max_length=26, null=True)  # None: the registry
    slug = fields.CharField(max_length=63, null=True)
    kind = fields.CharEnumField(BackupKind, max_length=16)
    status = fields.CharEnumField(BackupStatus, max_length=16, default=BackupStatus.RUNNING)
    verify_status = fields.CharEnumField(
        VerifyStatus, max_length=16, default=VerifyStatus.UNVERIFIED
    )
    verify_attempts = fields.IntField(default=0)
    verified_at = fields.DatetimeField(null=True)
    verify_error = fields.TextField(null=True)
    engine = fields.CharField(max_length=16)  # sqlite or postgres: where it can be restored
    source_schema = fields.CharField(max_length=63)
    store_key = fields.CharField(max_length=255, unique=True)
    key_id = fields.CharField(max_length=64)
    schema_version = fields.CharField(max_length=64, null=True)
    raw_size = fields.BigIntField(null=True)
    stored_size = fields.BigIntField(null=True)
    checksum = fields.CharField(max_length=64, null=True)  # SHA-256 of the stored object
    row_counts = fields.TextField(null=True)  # JSON: table -> rows
    # Who asked for it, and the key of that request: a redelivered job finds its backup.
    requested_by = fields.CharField(max_length=200)
    request_key = fields.CharField(max_length=200, null=True, unique=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField()  # when the snapshot of this attempt began
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        app = "shared"
        table = "backup"

    def counts(self) -> dict[str, int]:
        return orjson.loads(self.row_counts) if self.row_counts else {}


class BackupPolicy(Model):
    """A tenant's own backup schedule and retention; a null field takes the default
    (``SAAS_BACKUP_INTERVAL_HOURS``, ``SAAS_BACKUP_RETENTION``)."""

    tenant_id = fields.CharField(primary_key=True, max_length=26)
    interval_hours = fields.FloatField(null=True)
    keep_daily = fields.IntField(null=True)
    keep_weekly = fields.IntField(null=True)
    keep_monthly = fields.IntField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)
    updated_by = fields.CharField(max_length=200)

    class Meta:
        app = "shared"
        table = "backup_policy"


class OperatorStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Operator(Model):
    """A credential of the platform operator's API (``/operator/graphql``).

    Only the key's SHA-256 is kept: the key is 256 random bits, so a fast hash is enough
    (see ``schema/operator/credentials.py``). ``key_prefix`` is the key's first
    characters, shown in listings so a leaked key can be traced to its operator.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    status = fields.CharEnumField(OperatorStatus, max_length=16, default=OperatorStatus.ACTIVE)
    key_prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)  # hex SHA-256 of the key
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by = fields.CharField(max_length=200)
    key_created_at = fields.DatetimeField()  # the current key's: rotation replaces it
    last_used_at = fields.DatetimeField(null=True)
    disabled_at = fields.DatetimeField(null=True)

    class Meta:
        app = "shared"
        table = "platform_operator"
