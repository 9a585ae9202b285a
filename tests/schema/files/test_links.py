"""Signed download links: bound to the tenant, the file and the expiry; signed with the
platform secret, which rotates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from schema.core.secrets import SecretRing
from schema.files.config import FilesConfig, configure_files, files_config
from schema.files.links import Link, check_link, download_url
from schema.files.models import StoredFile
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.scope import tenant_scope

OLD = "an-old-secret-that-is-long-enough-000"
NEW = "a-new-secret-that-is-long-enough-0000"


@pytest.fixture(autouse=True)
def _config() -> Iterator[None]:
    before = files_config()
    configure_files(FilesConfig(public_url="https://api.example", secrets=SecretRing((NEW, OLD))))
    yield
    configure_files(before)


@pytest.fixture
async def globex(acme: TenantRecord) -> TenantRecord:
    return await create_tenant("globex", "Globex", actor="test")


async def link(
    tenant: TenantRecord, file_id: int = 5, public: bool = False, **ttl: timedelta | None
) -> tuple[str, dict[str, str]]:
    async with tenant_scope(tenant):
        url = download_url(StoredFile(id=file_id, public=public), **ttl)
    parts = urlsplit(url)
    return parts._replace(query="").geturl(), {k: v[0] for k, v in parse_qs(parts.query).items()}


def check(
    tenant: TenantRecord, file_id: int, query: dict[str, str], now: datetime | None = None
) -> Link:
    return check_link(tenant.id, file_id, query.get("expires"), query.get("signature"), now)


async def test_a_link_is_valid_for_five_minutes(acme: TenantRecord) -> None:
    before = int(datetime.now(UTC).timestamp())
    address, query = await link(acme)
    assert address == "https://api.example/t/acme/files/5"
    assert before + 300 <= int(query["expires"]) <= before + 301
    assert check(acme, 5, query) is Link.VALID
    later = datetime.now(UTC) + timedelta(minutes=5, seconds=2)
    assert check(acme, 5, query, later) is Link.EXPIRED


async def test_a_link_cannot_be_altered(acme: TenantRecord) -> None:
    _, query = await link(acme)
    stretched = {**query, "expires": str(int(query["expires"]) + 3600)}
    flipped = query["signature"][:-1] + ("A" if query["signature"][-1] != "A" else "B")
    assert check(acme, 6, query) is Link.INVALID
    assert check(acme, 5, stretched) is Link.INVALID
    assert check(acme, 5, {**query, "signature": flipped}) is Link.INVALID
    assert check(acme, 5, {"expires": query["expires"]}) is Link.INVALID
    assert check(acme, 5, {**query, "expires": "١٢٣"}) is Link.INVALID  # digits, not ASCII
    assert check(acme, 5, {**query, "signature": "é" * 43}) is Link.INVALID


async def test_a_link_of_one_tenant_is_refused_for_another(
    acme: TenantRecord, globex: TenantRecord
) -> None:
    _, query = await link(globex)
    assert check(globex, 5, query) is Link.VALID
    assert check(acme, 5, query) is Link.INVALID


async def test_only_public_files_get_links_without_expiry(acme: TenantRecord) -> None:
    _, query = await link(acme, public=True, ttl=None)
    assert set(query) == {"signature"}
    assert check(acme, 5, query) is Link.PERMANENT
    with pytest.raises(ValueError, match="only public files"):
        await link(acme, ttl=None)


async def test_links_of_a_rotated_out_secret_stop_working(acme: TenantRecord) -> None:
    configure_files(FilesConfig(secrets=SecretRing((OLD,))))
    _, query = await link(acme)
    configure_files(FilesConfig(secrets=SecretRing((NEW, OLD))))
    assert check(acme, 5, query) is Link.VALID
    configure_files(FilesConfig(secrets=SecretRing((NEW,))))
    assert check(acme, 5, query) is Link.INVALID
