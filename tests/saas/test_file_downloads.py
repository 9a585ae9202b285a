"""Downloading stored files through the real app, on both backends: only by a signed,
unexpired link of the right tenant, and never as something a browser would run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from schema.files.links import download_url
from schema.files.models import StoredFile
from schema.files.service import discard_file
from tenants.scope import tenant_scope
from tests.saas.harness import GRAPHQL_RESPONSE, AppStarter, RunningApp, error_code
from tests.schema.files.samples import PDF, PNG

UPLOAD = """mutation Up($file: Upload!, $shared: Boolean!) {
  toyUpload(file: $file, shared: $shared) { file { downloadUrl } errors { code } } }"""


@pytest.fixture
async def running(
    dialect: str, start_app: AppStarter, with_uploads: list[Any]
) -> AsyncIterator[RunningApp]:
    async with start_app(dialect) as running:
        yield running


async def upload(
    running: RunningApp,
    name: str,
    content: bytes,
    *,
    slug: str = "acme",
    shared: bool = False,
) -> str:
    """Upload through the toy mutation; the path and query of the link it returns."""
    operations = {"query": UPLOAD, "variables": {"file": None, "shared": shared}}
    response = await running.client.post(
        f"/t/{slug}/graphql",
        data={"operations": orjson.dumps(operations).decode(), "map": '{"0": ["variables.file"]}'},
        files={"0": (name, content, "application/octet-stream")},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    result = response.json()["data"]["toyUpload"]
    assert result["errors"] == [], result
    return local(result["file"]["downloadUrl"])


def local(url: str) -> str:
    """The link without the public URL's scheme and host (the test client's own)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_a_file_is_served_by_its_link_and_never_run(running: RunningApp) -> None:
    await running.add_tenant("acme", "Acme Ltd")
    link = await upload(running, "Vertrag März.pdf", PDF)
    assert link.startswith("/t/acme/files/1?expires=")
    response = await running.client.get(link)
    assert response.status_code == 200
    assert response.content == PDF
    assert {k: response.headers[k] for k in (
        "content-type", "content-length", "content-disposition", "x-content-type-options",
        "content-security-policy", "cache-control", "referrer-policy",
    )} == {
        "content-type": "application/pdf",
        "content-length": str(len(PDF)),
        "content-disposition": (
            "attachment; filename=\"Vertrag Marz.pdf\"; filename*=UTF-8''Vertrag%20M%C3%A4rz.pdf"
        ),
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        "cache-control": "private, no-store",
        "referrer-policy": "no-referrer",
    }  # fmt: skip


async def test_a_public_files_link_does_not_expire(running: RunningApp) -> None:
    await running.add_tenant("acme", "Acme Ltd")
    link = await upload(running, "logo.png", PNG, shared=True)
    assert "expires=" not in link
    response = await running.client.get(link)
    assert response.status_code == 200
    assert response.content == PNG
    assert (response.headers["content-type"], response.headers["cache-control"]) == (
        "image/png",
        "public, max-age=86400",
    )


async def refused(running: RunningApp, link: str) -> tuple[int, str, str]:
    response = await running.client.get(link)
    return response.status_code, error_code(response), response.json()["errors"][0]["message"]


async def test_altered_and_expired_links_are_403(running: RunningApp) -> None:
    acme = await running.add_tenant("acme", "Acme Ltd")
    link = await upload(running, "a.pdf", PDF)
    path, query = link.split("?")
    expires, signature = (part.split("=", 1)[1] for part in query.split("&"))
    async with tenant_scope(acme):
        row = await StoredFile.get(id=1)
        expired = local(download_url(row, ttl=timedelta(seconds=-1)))
    invalid = (403, "FORBIDDEN", "this download link is not valid")
    assert (
        await refused(running, f"{path}?expires={expires}&signature={signature[::-1]}") == invalid
    )
    assert (
        await refused(running, f"{path}?expires={int(expires) + 60}&signature={signature}")
        == invalid
    )
    assert await refused(running, f"/t/acme/files/2?{query}") == invalid
    assert await refused(running, path) == invalid
    assert await refused(running, f"{path}?signature={signature}") == invalid
    assert await refused(running, expired) == (403, "FORBIDDEN", "this download link has expired")
    assert (await running.client.get(link)).status_code == 200


async def test_a_link_of_one_tenant_never_serves_anothers_file(running: RunningApp) -> None:
    """Both tenants have a file 1: globex's link on acme's path is refused."""
    await running.add_tenant("acme", "Acme Ltd")
    await running.add_tenant("globex", "Globex")
    acme_link = await upload(running, "acme.pdf", PDF)
    globex_link = await upload(running, "globex.png", PNG, slug="globex")
    assert globex_link.startswith("/t/globex/files/1?")
    moved = globex_link.replace("/t/globex/", "/t/acme/")
    assert await refused(running, moved) == (403, "FORBIDDEN", "this download link is not valid")
    assert (await running.client.get(globex_link)).content == PNG
    assert (await running.client.get(acme_link)).content == PDF


async def test_unknown_and_discarded_files_are_404(running: RunningApp) -> None:
    acme = await running.add_tenant("acme", "Acme Ltd")
    link = await upload(running, "a.pdf", PDF)
    async with tenant_scope(acme):
        unknown = local(download_url(StoredFile(id=99, public=False)))
        await discard_file(await StoredFile.get(id=1))
    gone = (404, "NOT_FOUND", "no such file")
    assert await refused(running, unknown) == gone
    assert await refused(running, link) == gone
    assert await refused(running, "/t/nobody/files/1?signature=x") == (
        404, "TENANT_NOT_FOUND", "no tenant 'nobody'"
    )  # fmt: skip


async def test_a_tenants_own_host_serves_its_files(running: RunningApp) -> None:
    await running.add_tenant("acme", "Acme Ltd")
    link = await upload(running, "a.pdf", PDF)
    response = await running.client.get(
        link.removeprefix("/t/acme"), headers={"host": "acme.localhost"}
    )
    assert response.status_code == 200
    assert response.content == PDF


async def test_missing_bytes_are_404(running: RunningApp) -> None:
    await running.add_tenant("acme", "Acme Ltd")
    link = await upload(running, "a.pdf", PDF)
    for path in running.tenancy.config.files_root.rglob("*"):
        if path.is_file():
            path.unlink()
    assert await refused(running, link) == (404, "NOT_FOUND", "no such file")


async def test_files_are_only_read(running: RunningApp) -> None:
    await running.add_tenant("acme", "Acme Ltd")
    link = await upload(running, "a.pdf", PDF)
    for method in ("POST", "PUT", "DELETE"):
        response = await running.client.request(method, link)
        assert response.status_code == 405
    assert (await running.client.get(link)).content == PDF
