"""The idempotency keys of a tenant: one row per (who, mutation, key), see ``service``."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class KeyStatus(StrEnum):
    PENDING = "pending"  # a request holds the key and is doing the work
    DONE = "done"  # the work committed: later requests replay ``response``


class IdempotencyKey(Model):
    id = fields.BigIntField(primary_key=True)
    subject = fields.CharField(max_length=200)  # the principal: user:12, client:abc
    operation = fields.CharField(max_length=100)  # the mutation: userCreate
    key = fields.CharField(max_length=200)  # the client's
    request_hash = fields.CharField(max_length=64)  # SHA-256 of the canonical input
    # The holding request's random token: one that takes a stale claim over changes it,
    # so the stale request's completion matches nothing and rolls back.
    claim_token = fields.CharField(max_length=32)
    status = fields.CharEnumField(KeyStatus, max_length=16)
    response = fields.TextField(null=True)  # JSON: what a replay loads the result by
    created_at = fields.DatetimeField()  # when the (current) first request claimed it
    completed_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "idempotency_key"
        unique_together = (("subject", "operation", "key"),)
