"""GraphQL face of the tenant's settings. Changing them needs identity (a later issue);
until then the ``saas tenants configure`` command changes them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.core.nodes import Node, register_node, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import ensure_permission, public, requires
from schema.settings import service
from schema.settings.models import SettingsChange, TenantSettings


@strawberry.type(name="TenantSettings", description="The tenant's own settings.")
class TenantSettingsType:
    name: str
    locale: str = strawberry.field(description="BCP 47 / CLDR locale, e.g. en_GB.")
    currency: str = strawberry.field(description="ISO 4217 code of the default currency.")
    time_zone: str = strawberry.field(description="IANA time zone, e.g. Europe/Paris.")
    version: int = strawberry.field(description="Goes up by one on every change.")
    updated_at: datetime

    @classmethod
    def from_model(cls, row: TenantSettings) -> TenantSettingsType:
        return cls(
            name=row.name,
            locale=row.locale,
            currency=row.currency,
            time_zone=row.time_zone,
            version=row.version,
            updated_at=row.updated_at,
        )


@strawberry.type(name="SettingsChange", description="One recorded change of a setting.")
class SettingsChangeType(Node):
    field: str
    old_value: str | None
    new_value: str
    actor: str
    reason: str | None
    changed_at: datetime

    @classmethod
    def from_model(cls, row: SettingsChange) -> SettingsChangeType:
        return cls(
            id=to_global_id("SettingsChange", row.id),
            field=row.field,
            old_value=row.old_value,
            new_value=row.new_value,
            actor=row.actor,
            reason=row.reason,
            changed_at=row.changed_at,
        )


HISTORY_PERMISSION = "settings:history"


async def _fetch_change(key: str, context: object) -> SettingsChangeType | None:
    ensure_permission(context, HISTORY_PERMISSION)
    row = await SettingsChange.get_or_none(id=int(key)) if key.isdigit() else None
    return SettingsChangeType.from_model(row) if row else None


register_node("SettingsChange", _fetch_change)


@strawberry.type
class SettingsQuery:
    @strawberry.field(permission_classes=[public], description="The tenant's settings.")
    async def tenant_settings(self) -> TenantSettingsType:
        return TenantSettingsType.from_model(await service.get_settings())

    @strawberry.field(
        permission_classes=[requires(HISTORY_PERMISSION)],
        description="Changes to the settings, newest first.",
    )
    async def settings_history(
        self,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[SettingsChangeType]:
        return await paginate(
            SettingsChange.all(),
            PageRequest(first=first, after=after, last=last, before=before),
            SettingsChangeType.from_model,
            newest_first=True,
        )


QUERIES: list[type] = [SettingsQuery]
MUTATIONS: list[type] = []
TYPES: list[type] = [SettingsChangeType]
