"""The settings service: validation of every field at once, the change log, versions."""

from __future__ import annotations

import pytest

from schema.core.errors import DomainError, FieldError
from schema.settings.models import SettingsChange, TenantSettings
from schema.settings.service import (
    SettingsChanges,
    get_settings,
    update_settings,
)
from tenants.records import TenantRecord
from tenants.scope import tenant_scope

EDITABLE = ("name", "locale", "currency", "time_zone", "version")


def snapshot(row: TenantSettings) -> tuple[object, ...]:
    return tuple(getattr(row, field) for field in EDITABLE)


async def change_log() -> list[tuple[str, str | None, str, str, str | None]]:
    rows = await SettingsChange.all().order_by("id")
    return [(r.field, r.old_value, r.new_value, r.actor, r.reason) for r in rows]


async def test_new_tenant_starts_with_neutral_settings(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        settings = await get_settings()
        assert snapshot(settings) == ("Acme Ltd", "en", "USD", "UTC", 1)
        assert await change_log() == []


async def test_change_is_normalized_logged_per_field_and_versioned(acme: TenantRecord) -> None:
    changes = SettingsChanges(
        name="  Acme GmbH ", locale="de-DE", currency="eur", time_zone="Europe/Berlin"
    )
    async with tenant_scope(acme):
        updated = await update_settings(changes, actor="alice", reason="moved to Berlin")
        stored = await get_settings()
        log = await change_log()
    assert (
        snapshot(updated) == snapshot(stored) == ("Acme GmbH", "de_DE", "EUR", "Europe/Berlin", 2)
    )
    assert log == [
        ("name", "Acme Ltd", "Acme GmbH", "alice", "moved to Berlin"),
        ("locale", "en", "de_DE", "alice", "moved to Berlin"),
        ("currency", "USD", "EUR", "alice", "moved to Berlin"),
        ("time_zone", "UTC", "Europe/Berlin", "alice", "moved to Berlin"),
    ]


async def test_only_changed_fields_are_logged(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        updated = await update_settings(
            SettingsChanges(name="Acme Ltd", currency="JPY"), actor="bob"
        )
        log = await change_log()
    assert snapshot(updated) == ("Acme Ltd", "en", "JPY", "UTC", 2)
    assert log == [("currency", "USD", "JPY", "bob", None)]


async def test_no_op_change_writes_nothing(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        before = await get_settings()
        result = await update_settings(
            SettingsChanges(name="Acme Ltd", locale="en", currency="usd", time_zone="UTC"),
            actor="bob",
        )
        after = await get_settings()
        log = await change_log()
    assert snapshot(result) == snapshot(after) == snapshot(before)
    assert after.updated_at == before.updated_at
    assert log == []


async def test_every_invalid_field_is_reported_and_nothing_changes(acme: TenantRecord) -> None:
    changes = SettingsChanges(
        name=" ", locale="not a locale", currency="EURO", time_zone="Mars/Olympus_Mons"
    )
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await update_settings(changes, actor="mallory")
        settings = await get_settings()
        log = await change_log()
    assert caught.value.errors == [
        FieldError(("name",), "INVALID", "name must be 1-200 characters"),
        FieldError(("locale",), "INVALID", "unknown locale 'not a locale'"),
        FieldError(("currency",), "INVALID", "'EURO' is not an ISO 4217 currency code"),
        FieldError(("time_zone",), "INVALID", "unknown time zone 'Mars/Olympus_Mons'"),
    ]
    assert snapshot(settings) == ("Acme Ltd", "en", "USD", "UTC", 1)
    assert log == []


async def test_one_invalid_field_stops_the_valid_ones(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await update_settings(SettingsChanges(name="New", currency="XXQ"), actor="bob")
        assert snapshot(await get_settings()) == ("Acme Ltd", "en", "USD", "UTC", 1)
        assert await change_log() == []
    assert [e.field for e in caught.value.errors] == [("currency",)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "x" * 201),
        ("name", ""),
        ("locale", "xx_YY"),
        ("locale", "en_GB_extra_junk"),
        ("currency", "US"),
        ("currency", "ABC"),
        ("time_zone", "Europe/Nowhere"),
        ("time_zone", "../../etc/passwd"),
        ("time_zone", "utc"),
    ],
)
async def test_invalid_values(acme: TenantRecord, field: str, value: str) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await update_settings(SettingsChanges(**{field: value}), actor="bob")
    assert [(e.field, e.code) for e in caught.value.errors] == [((field,), "INVALID")]


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("name", "x" * 200, "x" * 200),
        ("locale", "en_GB", "en_GB"),
        ("locale", "pt-BR", "pt_BR"),
        ("currency", "BHD", "BHD"),
        ("time_zone", "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ],
)
async def test_valid_values(acme: TenantRecord, field: str, value: str, stored: str) -> None:
    async with tenant_scope(acme):
        updated = await update_settings(SettingsChanges(**{field: value}), actor="bob")
    assert getattr(updated, field) == stored


async def test_nothing_given_is_refused(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await update_settings(SettingsChanges(), actor="bob")
    assert caught.value.errors == [FieldError((), "NOTHING_TO_CHANGE", "no setting was given")]
