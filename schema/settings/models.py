from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class TenantSettings(Model):
    """One row per tenant (id 1). ``version`` goes up on every change."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    locale = fields.CharField(max_length=35)
    currency = fields.CharField(max_length=3)
    time_zone = fields.CharField(max_length=64)
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "tenant"
        table = "tenant_settings"


class SettingsChange(Model):
    """Who changed which setting, when, why, from what to what."""

    id = fields.IntField(primary_key=True)
    field = fields.CharField(max_length=32)
    old_value = fields.TextField(null=True)
    new_value = fields.TextField()
    actor = fields.CharField(max_length=200)
    reason = fields.TextField(null=True)
    changed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "tenant"
        table = "settings_change"
