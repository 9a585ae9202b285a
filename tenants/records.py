"""An immutable snapshot of a registry row: what requests and jobs carry around."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tenants.models import Tenant, TenantStatus


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: str
    slug: str
    display_name: str
    status: TenantStatus
    schema_name: str
    schema_version: str | None
    domains: tuple[str, ...]
    created_at: datetime
    suspended_at: datetime | None
    status_reason: str | None

    @classmethod
    def from_row(cls, row: Tenant, domains: tuple[str, ...]) -> TenantRecord:
        return cls(
            id=row.id,
            slug=row.slug,
            display_name=row.display_name,
            status=TenantStatus(row.status),
            schema_name=row.schema_name,
            schema_version=row.schema_version,
            domains=domains,
            created_at=row.created_at,
            suspended_at=row.suspended_at,
            status_reason=row.status_reason,
        )
