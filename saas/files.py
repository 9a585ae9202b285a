"""Downloads of stored files, at ``/t/<slug>/files/<id>`` (and ``/files/<id>`` on a
tenant's own host), by signed link only (``schema.files.links``).

The tenant is resolved like GraphQL's (unknown: 404, suspended: 403, behind head: 503).
The link must be signed for that tenant and that file and not expired (else 403, before
the database is asked anything); a discarded or unknown file is 404, and so is a non-public
file asked for by a link without an expiry.

What is sent can never run in the browser's origin of the API: ``Content-Type`` is the type
detected at upload, ``nosniff`` forbids guessing another, ``Content-Disposition:
attachment`` makes browsers save rather than show it, and a sandboxing CSP covers a
browser that shows it anyway. Links carry their signature in the query, so no
``Referer`` is sent from a file, and private files are never cached.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from saas.config import Settings
from saas.graphql_http import HTTPError, error_body, tenancy_error
from saas.observability import tenant_var
from schema.core.errors import ErrorCode
from schema.files.config import FilesConfig
from schema.files.links import Link, check_link
from schema.files.models import StoredFile
from schema.files.service import servable_file
from tenants.errors import TenancyError
from tenants.records import TenantRecord
from tenants.resolver import TenantResolver
from tenants.scope import tenant_scope
from tenants.storage import FileReader, StoredBytesMissing, file_store

log = logging.getLogger("saas.files")
_UNSAFE_IN_FALLBACK = re.compile(r"[^A-Za-z0-9._()+ -]")
PRIVATE_CACHE = "private, no-store"
PUBLIC_CACHE = "public, max-age=86400"  # permanent links of public files (logos)
HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "referrer-policy": "no-referrer",
}


def files_config_from(settings: Settings) -> FilesConfig:
    return FilesConfig(public_url=settings.public_url, secrets=settings.secret_ring)


def content_disposition(filename: str) -> str:
    """``attachment`` with the name in RFC 6266's two forms: ``filename*`` (UTF-8,
    percent-encoded) for every current browser, and an ASCII ``filename`` for the rest."""
    name = PurePosixPath(filename)
    fallback = (_ascii(name.stem) or "download") + _ascii(name.suffix)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _ascii(text: str) -> str:
    """``text`` in the characters a quoted ``filename`` may safely hold (accents dropped,
    the rest replaced)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _UNSAFE_IN_FALLBACK.sub("_", plain).strip()


def _refusal(error: HTTPError) -> Response:
    body = error_body(error.code, error.message)
    return Response(body, error.status, error.headers, media_type="application/json")


class FileDownloads:
    def __init__(self, resolver: TenantResolver) -> None:
        self.resolver = resolver

    def routes(self) -> list[Route]:
        return [
            Route(f"{prefix}/files/{{file_id:int}}", self.download, methods=["GET"])
            for prefix in ("/t/{slug}", "")
        ]

    async def download(self, request: Request) -> Response:
        try:
            tenant = await self.resolver.resolve(
                host=request.headers.get("host", ""), path_slug=request.path_params.get("slug")
            )
            tenant_var.set(tenant.slug)
            row, reader, link = await self._open(request, tenant)
        except TenancyError as exc:
            return _refusal(tenancy_error(exc))
        except HTTPError as error:
            return _refusal(error)
        headers = {
            **HEADERS,
            "content-length": str(row.size),
            "content-disposition": content_disposition(row.filename),
            "cache-control": PUBLIC_CACHE if link is Link.PERMANENT else PRIVATE_CACHE,
        }
        return StreamingResponse(
            reader.chunks(),
            headers=headers,
            media_type=row.media_type,
            background=BackgroundTask(reader.close),  # when the client left before the end
        )

    async def _open(
        self, request: Request, tenant: TenantRecord
    ) -> tuple[StoredFile, FileReader, Link]:
        file_id: int = request.path_params["file_id"]
        query = request.query_params
        link = check_link(tenant.id, file_id, query.get("expires"), query.get("signature"))
        if link is Link.INVALID:
            raise HTTPError(403, ErrorCode.FORBIDDEN, "this download link is not valid")
        if link is Link.EXPIRED:
            raise HTTPError(403, ErrorCode.FORBIDDEN, "this download link has expired")
        async with tenant_scope(tenant):
            row = await servable_file(file_id)
            if row is None or (link is Link.PERMANENT and not row.public):
                raise HTTPError(404, ErrorCode.NOT_FOUND, "no such file")
            try:
                return row, await file_store().open(row.key), link
            except StoredBytesMissing:
                log.error("the bytes of a stored file are missing", extra={"file_id": file_id})
                raise HTTPError(404, ErrorCode.NOT_FOUND, "no such file") from None
