"""The audit trail's tables: the records, their targets (a lookup index), and the head of
the chain. See ``schema.audit.service`` for how they are written and checked."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AuditRecord(Model):
    """One audited operation. ``id`` is the record's sequence number in the tenant's
    chain (1, 2, 3... without gaps), assigned by ``record()``, never by the database:
    a database sequence skips numbers when a transaction rolls back.

    Append-only: no code updates or deletes a row, and a trigger refuses both (on
    SQLite anyone who can write the file can drop it: the hash chain is what detects
    a change there). ``targets`` and ``summary`` hold JSON text exactly as hashed."""

    id = fields.BigIntField(primary_key=True, generated=False)
    occurred_at = fields.DatetimeField()
    actor_subject = fields.CharField(max_length=200)  # user:12, client:abc, system:x, anonymous
    actor_kind = fields.CharField(max_length=16)  # schema.core.principal.PrincipalKind
    client_id = fields.CharField(max_length=200, null=True)  # the OAuth client, if any
    tenant_id = fields.CharField(max_length=26)  # the registry's id: a slug may be reused
    operation = fields.CharField(max_length=100)  # userRegister, signIn, tokenIssue...
    targets = fields.TextField()  # JSON list of "Type:id"
    outcome = fields.CharField(max_length=64)  # "success" or a failure code
    source_address = fields.CharField(max_length=64, null=True)
    request_id = fields.CharField(max_length=100, null=True)
    summary = fields.TextField()  # JSON object, bounded in size, secrets redacted
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        app = "tenant"
        table = "audit_record"


class AuditTarget(Model):
    """One (target, record) pair: finds "everything that happened to Order:7" through an
    index instead of scanning every record's JSON. Derived from the records' own
    ``targets``, which the chain protects."""

    id = fields.BigIntField(primary_key=True)
    target = fields.CharField(max_length=200)
    record_id = fields.BigIntField()

    class Meta:
        app = "tenant"
        table = "audit_target"


class AuditChainHead(Model):
    """The chain's last sequence number and hash, one row (id 1). Appends lock it, which
    serializes them per tenant; verification compares it with the last record, so that
    removing the newest records is detected too."""

    id = fields.IntField(primary_key=True)
    last_sequence = fields.BigIntField()
    last_hash = fields.CharField(max_length=64)

    class Meta:
        app = "tenant"
        table = "audit_chain_head"
