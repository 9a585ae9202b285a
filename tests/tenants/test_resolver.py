"""Resolving a request to a tenant: ``/t/<slug>`` path, ``<slug>.<base domain>`` host or a
custom domain; anything else is TenantNotFound, never a database error."""

from __future__ import annotations

import pytest

from tenants.errors import TenantNotFound
from tenants.provisioning import create_tenant
from tenants.resolver import TenantResolver
from tenants.runtime import Tenancy

BASE_DOMAIN = "example.com"


@pytest.fixture
async def resolver(tenancy: Tenancy) -> TenantResolver:
    await create_tenant("acme", "Acme Ltd", actor="test", domains=("shop.acme.test",))
    await create_tenant("globex", "Globex Ltd", actor="test")
    return TenantResolver(tenancy.registry, BASE_DOMAIN)


KNOWN = [  # host, path slug, the tenant it resolves to
    ("api.example.com", "acme", "acme"),
    ("globex.example.com", "acme", "acme"),  # the path prefix comes first
    ("acme.example.com", None, "acme"),
    ("acme.example.com:8443", None, "acme"),
    ("  Globex.Example.COM.:443 ", None, "globex"),
    ("shop.acme.test", None, "acme"),
    ("SHOP.acme.test:8080", None, "acme"),
]
UNKNOWN = [  # host, path slug
    ("api.example.com", "nobody"),
    ("api.example.com", "../acme"),
    ("api.example.com", "a/b"),
    ("api.example.com", "%2e%2e"),
    ("api.example.com", "acme/../globex"),
    ("api.example.com", "ACME"),
    ("api.example.com", ""),
    ("api.example.com", "x" * 500),
    ("nobody.example.com", None),
    ("example.com", None),  # the base domain itself is no tenant
    ("shop.acme.example.com", None),  # two labels under the base domain
    ("localhost:8000", None),
    ("[::1]:8000", None),
    ("127.0.0.1", None),
    ("acme.example.com.evil.test", None),
    ("acme.example.com/../globex", None),
    ("shop.acme.test'; DROP TABLE tenant; --", None),
]


async def test_resolves_known_tenants_by_path_host_and_custom_domain(
    resolver: TenantResolver,
) -> None:
    resolved = [
        (host, path_slug, (await resolver.resolve(host=host, path_slug=path_slug)).slug)
        for host, path_slug, _ in KNOWN
    ]
    assert resolved == KNOWN


async def _outcome(resolver: TenantResolver, host: str, path_slug: str | None) -> str:
    try:
        record = await resolver.resolve(host=host, path_slug=path_slug)
    except TenantNotFound:
        return "not found"
    return f"resolved to {record.slug}"


async def test_unknown_or_malformed_tenants_are_not_found(resolver: TenantResolver) -> None:
    # Any other exception (a database error on a hostile slug) fails the test here.
    outcomes = [(host, slug, await _outcome(resolver, host, slug)) for host, slug in UNKNOWN]

    assert outcomes == [(host, slug, "not found") for host, slug in UNKNOWN]
    # The registry still answers: no broken connection or dropped table behind a refusal.
    assert (await resolver.resolve(host="acme.example.com", path_slug=None)).slug == "acme"
