"""The tenant registry: Tortoise app ``shared`` on connection alias ``shared``.

Tenant tables never reference these (no foreign keys from a tenant's schema into the
shared store), so a tenant schema can be dumped, restored or moved on its own.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


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
