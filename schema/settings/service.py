"""Reading and changing the tenant's settings. Runs inside ``tenant_scope()``; does not
know about HTTP or GraphQL."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from tortoise.transactions import in_transaction

from schema.core.errors import FieldError, fail, raise_if_any
from schema.core.money import CurrencyError, check_currency
from schema.settings.models import SettingsChange, TenantSettings
from tenants.backends import TENANT_ALIAS
from tenants.records import TenantRecord

SETTINGS_ID = 1
EDITABLE = ("name", "locale", "currency", "time_zone")


@dataclass(frozen=True, slots=True)
class SettingsChanges:
    name: str | None = None
    locale: str | None = None
    currency: str | None = None
    time_zone: str | None = None

    def given(self) -> dict[str, str]:
        return {f: v for f in EDITABLE if (v := getattr(self, f)) is not None}


async def initialize_settings(tenant: TenantRecord) -> None:
    """Provisioning hook: every new tenant starts with its display name and neutral defaults."""
    await TenantSettings.create(
        id=SETTINGS_ID, name=tenant.display_name, locale="en", currency="USD", time_zone="UTC"
    )


async def get_settings() -> TenantSettings:
    return await TenantSettings.get(id=SETTINGS_ID)


def _validate(field: str, value: str) -> tuple[str, FieldError | None]:
    value = value.strip()
    if field == "name":
        if not 1 <= len(value) <= 200:
            return value, FieldError((field,), "INVALID", "name must be 1-200 characters")
    elif field == "locale":
        try:
            value = str(Locale.parse(value.replace("-", "_")))
        except (ValueError, UnknownLocaleError):
            return value, FieldError((field,), "INVALID", f"unknown locale {value[:35]!r}")
    elif field == "currency":
        value = value.upper()
        try:
            check_currency(value)
        except CurrencyError as exc:
            return value, FieldError((field,), "INVALID", str(exc))
    # Only IANA keys: refuses paths and "localtime", and every key listed loads.
    elif field == "time_zone" and value not in available_timezones():
        return value, FieldError((field,), "INVALID", f"unknown time zone {value[:64]!r}")
    return value, None


async def update_settings(
    changes: SettingsChanges, *, actor: str, reason: str | None = None
) -> TenantSettings:
    """Validate everything first, then apply all changes in one transaction with a
    change-log row per field that actually changed."""
    given = changes.given()
    if not given:
        raise fail((), "NOTHING_TO_CHANGE", "no setting was given")
    cleaned: dict[str, str] = {}
    errors: list[FieldError] = []
    for field, raw in given.items():
        value, error = _validate(field, raw)
        if error:
            errors.append(error)
        cleaned[field] = value
    raise_if_any(errors)
    async with in_transaction(TENANT_ALIAS):
        current = await TenantSettings.get(id=SETTINGS_ID)
        changed = {f: v for f, v in cleaned.items() if getattr(current, f) != v}
        for field, value in changed.items():
            await SettingsChange.create(
                field=field,
                old_value=getattr(current, field),
                new_value=value,
                actor=actor,
                reason=reason,
            )
            setattr(current, field, value)
        if changed:
            current.version += 1
            await current.save()
    return current
