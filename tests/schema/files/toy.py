"""Mutations that take uploads the way a domain's would, added to the real schema by the
tests of the HTTP edge (``uploads_in_schema``): the product schema has none of its own yet."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import strawberry

from schema import root
from schema.core.mutations import mutation_types
from schema.core.permissions import public
from schema.files.api import StoredFileType, Upload
from schema.files.checks import UPLOAD_CODES
from schema.files.models import StoredFile
from schema.files.service import store_upload

MAX_FILE_BYTES = 64 * 1024
TOY_UPLOAD = mutation_types("toyUpload", UPLOAD_CODES, file=StoredFileType)
ToyUploadPayload = TOY_UPLOAD.payload
# The uploads the resolvers were given, to check they are closed after the request.
RECEIVED: list[Any] = []


async def _file(row: StoredFile) -> dict[str, Any]:
    return {"file": StoredFileType.from_model(row)}


@strawberry.type
class ToyUploadMutation:
    @strawberry.mutation(permission_classes=[public])
    async def toy_upload(self, file: Upload, shared: bool = False) -> ToyUploadPayload:
        RECEIVED.append(file)
        stored = store_upload(
            file,  # type: ignore[arg-type]
            purpose="toy",
            accepted_types=("application/pdf", "image/png"),
            max_bytes=MAX_FILE_BYTES,
            public=shared,
        )
        return await TOY_UPLOAD.run(stored, _file)

    @strawberry.mutation(permission_classes=[public])
    async def toy_upload_names(self, files: list[Upload], note: Upload | None = None) -> list[str]:
        RECEIVED.extend(files)
        return [f.filename for f in [*files, *([note] if note else [])]]  # type: ignore[attr-defined]


QUERIES: tuple[type, ...] = ()
MUTATIONS: tuple[type, ...] = (ToyUploadMutation,)
TYPES: tuple[type, ...] = ()


@contextmanager
def uploads_in_schema() -> Iterator[list[Any]]:
    """The toy mutations in the schema of the apps started in the block; yields the
    uploads they got."""
    domains = root.DOMAINS
    root.DOMAINS = (*domains, sys.modules[__name__])
    RECEIVED.clear()
    try:
        yield RECEIVED
    finally:
        root.DOMAINS = domains
        RECEIVED.clear()
