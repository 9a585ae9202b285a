"""What the tenant knows about each stored file; the bytes live in the file store
(``tenants.storage``) under ``key``."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class StoredFile(Model):
    id = fields.IntField(primary_key=True)
    # Random, made by the server: the bytes' name in the store. Never shown to clients.
    key = fields.CharField(max_length=32, unique=True)
    purpose = fields.CharField(max_length=64)  # merchant_document, merchant_logo, ...
    filename = fields.CharField(max_length=255)  # checked; only for Content-Disposition
    media_type = fields.CharField(max_length=100)  # detected from the content
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    # Public files (logos) may be linked without an expiry (schema.files.links).
    public = fields.BooleanField(default=False)
    uploaded_by = fields.CharField(max_length=200)  # the principal's subject, as audited
    created_at = fields.DatetimeField(auto_now_add=True)
    # Set when discarded: never served again; the sweeper removes the bytes.
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "stored_file"

    @property
    def target(self) -> str:
        """The file as an audit record's target."""
        return f"StoredFile:{self.id}"
