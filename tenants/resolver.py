"""Which tenant a request is for: a ``/t/<slug>/`` path prefix, a ``<slug>.<base domain>``
host, or a custom domain from the registry, in that order."""

from __future__ import annotations

from tenants.errors import TenantNotFound
from tenants.records import TenantRecord
from tenants.registry import TenantRegistry


def normalize_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal, never a tenant host
        return host
    return host.rsplit(":", 1)[0].rstrip(".")


class TenantResolver:
    def __init__(self, registry: TenantRegistry, base_domain: str) -> None:
        self.registry = registry
        self.base_suffix = "." + base_domain.strip(".").lower()

    async def resolve(self, *, host: str, path_slug: str | None) -> TenantRecord:
        if path_slug is not None:
            return await self.registry.by_slug(path_slug)
        name = normalize_host(host)
        if name.endswith(self.base_suffix):
            label = name.removesuffix(self.base_suffix)
            if "." not in label:
                return await self.registry.by_slug(label)
        if "." in name and not name.startswith("["):
            return await self.registry.by_domain(name)
        raise TenantNotFound(
            f"no tenant for host {name[:253]!r}: use /t/<slug>/graphql or <slug>{self.base_suffix}"
        )
