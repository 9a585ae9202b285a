"""The GraphQL face of stored files, for the domains that take uploads.

A mutation takes a file as an argument typed ``Upload`` (the GraphQL multipart request
spec's scalar; resolvers get the uploaded file, ``schema.files.service.UploadedFile``),
passes it to ``store_upload`` and returns the domain's own object, which may show its file
as a ``StoredFile``: build that only after checking the caller may download the file, as
it carries a download link.

``Upload`` is Strawberry's type, given the stricter scalar ``SCALARS`` maps it to in the
root schema: Strawberry's own passes any value through, so a string sent in JSON for a
file would reach the resolver; this one refuses it as an invalid variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types.scalar import ScalarDefinition

from schema.files.links import download_url
from schema.files.models import StoredFile
from schema.files.service import UploadedFile

__all__ = ["SCALARS", "StoredFileType", "Upload"]


def _uploaded_file(value: Any) -> UploadedFile:
    if not isinstance(value, UploadedFile):
        raise ValueError("files are sent as parts of a multipart request, never as values")
    return value


def _input_only(value: Any) -> Any:
    raise TypeError("Upload is an input type: no field returns one")


SCALARS: Mapping[object, ScalarDefinition] = {
    Upload: strawberry.scalar(
        name="Upload",
        description="A file sent in a GraphQL multipart request (the multipart request spec).",
        serialize=_input_only,
        parse_value=_uploaded_file,
    )
}


@strawberry.type(name="StoredFile", description="An uploaded file, checked by its content.")
class StoredFileType:
    filename: str
    media_type: str = strawberry.field(description="Detected from the content.")
    size: int = strawberry.field(description="In bytes.")
    sha256: str = strawberry.field(description="Hex digest of the content.")
    created_at: datetime
    download_url: str = strawberry.field(
        description="Where to download the file: valid for 5 minutes; a public file's "
        "link does not expire."
    )

    @classmethod
    def from_model(cls, row: StoredFile) -> StoredFileType:
        return cls(
            filename=row.filename,
            media_type=row.media_type,
            size=row.size,
            sha256=row.sha256,
            created_at=row.created_at,
            download_url=download_url(row, ttl=None) if row.public else download_url(row),
        )
