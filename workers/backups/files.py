"""A tenant's stored files in its backups.

The files a backup holds are those the snapshot's live ``stored_file`` rows name, read
from the tenant's file store once the snapshot is taken: bytes are immutable (a new
version gets a new key), so what is read then is what the rows describe. A file whose
bytes are gone by then (discarded after the snapshot and swept) is listed in the manifest
as missing and the backup goes on: the restored row then has no bytes, as it would have
had no bytes in the live tenant a moment later.

The bytes follow the database in the payload, in the manifest's order, each with the size
and SHA-256 read. Opening a backup splits them off into scratch files and checks each
against the manifest; verification also checks the manifest against the restored copy's
``stored_file`` rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tenants.storage import StoredBytesMissing, file_store
from workers.backups.engines import FileRef
from workers.backups.errors import BackupCorrupt, BackupMismatch
from workers.backups.manifest import Manifest
from workers.backups.streams import READ_BLOCK

log = logging.getLogger("saas.backups")
_REPORTED = 10  # problems named in an error message; the rest are counted


@dataclass(slots=True)
class FilesRead:
    """What ``read_files`` found: the files it streamed, and the keys it did not find."""

    included: list[FileRef] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


async def read_files(
    tenant_id: str, refs: Sequence[FileRef], found: FilesRead
) -> AsyncIterator[bytes]:
    """The bytes of each file of ``refs`` in turn, hashed as they pass; each file is added
    to ``found`` once it was read whole."""
    store = file_store().of_tenant(tenant_id)
    for ref in refs:
        try:
            reader = await store.open(ref.key)
        except StoredBytesMissing:
            log.warning("backup of tenant %s: file %s is gone (missing)", tenant_id, ref.key)
            found.missing.append(ref.key)
            continue
        digest, size = hashlib.sha256(), 0
        async for chunk in reader.chunks():
            digest.update(chunk)
            size += len(chunk)
            yield chunk
        found.included.append(FileRef(ref.key, size, digest.hexdigest()))


def split_files(payload: Path, manifest: Manifest, folder: Path) -> list[Path]:
    """Move the files' bytes out of an opened payload into ``folder`` (one scratch file
    each, in the manifest's order, named by position: a key never becomes a path), check
    each against the manifest, and leave the payload holding the database alone."""
    if manifest.database_size is None:
        return []  # made before backups held files
    if manifest.database_size + sum(f.size for f in manifest.files) != manifest.raw_size:
        raise BackupCorrupt("the payload's parts do not add up to its size")
    paths = []
    with payload.open("r+b") as source:
        source.seek(manifest.database_size)
        for index, ref in enumerate(manifest.files):
            path = folder / f"file-{index}"
            with path.open("wb") as out:
                if _copy(source, out, ref.size) != ref.sha256:
                    raise BackupCorrupt(f"file {ref.key}: its bytes differ from the manifest")
            paths.append(path)
        source.truncate(manifest.database_size)
    return paths


def _copy(source: BinaryIO, out: BinaryIO, size: int) -> str:
    """Copy ``size`` bytes; their SHA-256."""
    digest = hashlib.sha256()
    while size:
        block = source.read(min(size, READ_BLOCK))
        if not block:
            raise BackupCorrupt("the payload ends inside a file")
        digest.update(block)
        out.write(block)
        size -= len(block)
    return digest.hexdigest()


def check_files(manifest: Manifest, rows: Sequence[FileRef]) -> None:
    """Refuse a backup whose files are not those its restored ``stored_file`` rows
    describe (same keys, sizes and SHA-256), missing ones aside."""
    if manifest.database_size is None:
        return  # made before backups held files
    held = {ref.key: ref for ref in manifest.files}
    missing = set(manifest.missing_files)
    problems = []
    for row in rows:
        if row.key in missing:
            continue
        ref = held.pop(row.key, None)
        if ref is None:
            problems.append(f"{row.key}: not in the backup")
        elif ref != row:
            problems.append(
                f"{row.key}: {ref.size} bytes, SHA-256 {ref.sha256[:12]} "
                f"(its row: {row.size} bytes, {row.sha256[:12]})"
            )
    problems += [f"{key}: no live row names it" for key in held]
    if problems:
        more = len(problems) - _REPORTED
        raise BackupMismatch(
            "the backup's files differ from their stored_file rows: "
            + "; ".join(problems[:_REPORTED])
            + (f"; and {more} more" if more > 0 else "")
        )
