"""The GraphQL face of stored files, for the domains that take uploads.

A mutation takes a file as an argument typed ``Upload`` (the GraphQL multipart request
spec's scalar; resolvers get the uploaded file, ``schema.files.service.UploadedFile``),
passes it to ``store_upload`` and returns the domain's own object, which may show its file
as a ``StoredFile``: build that only after checking the caller may download the file, as
it carries a download link.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.file_uploads import Upload

from schema.files.links import download_url
from schema.files.models import StoredFile

__all__ = ["StoredFileType", "Upload"]


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
