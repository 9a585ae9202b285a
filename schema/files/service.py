"""Storing uploads, discarding files, sweeping bytes nothing refers to.

``store_upload`` checks what the name and the first bytes show (name, emptiness, type)
and refuses with every problem at once before anything is written; then it streams the
upload into the tenant's file store, counting (refused as soon as the limit is passed) and
hashing, and registers the file in the caller's transaction.

The bytes are written before the row and cannot join the database transaction, so a
rolled-back transaction would leave them behind. Two things remove them:

- once the tenant scope the upload happened in has exited normally (a mutation that
  refused its input after the upload, its transaction rolled back), the key is looked up
  and its bytes deleted when no row was committed;
- ``sweep_files`` (a daily job in every tenant) deletes bytes older than ``SWEEP_GRACE``
  that no live row refers to, and writes left half done: what a crash or a failing scope
  leaves behind. The grace keeps it away from uploads whose transaction is still open.

A sweeper alone would leave rolled-back bytes for hours; a hook alone misses crashes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from schema.audit.service import current_acting
from schema.core.errors import DomainError, FieldError, raise_if_any
from schema.files.checks import (
    HEAD_BYTES,
    UploadCode,
    check_accepted,
    detect,
    normalized,
    problems,
    stored_name,
)
from schema.files.models import StoredFile
from tenants.records import TenantRecord
from tenants.scope import AfterExit, after_scope_exit, tenant_scope
from tenants.storage import CHUNK_BYTES, FileStore, file_store, new_key

log = logging.getLogger("saas.files")
SWEEP_ACTOR = "files.sweep"
SWEEP_GRACE = timedelta(hours=1)
_SWEEP_BATCH = 500
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@runtime_checkable
class UploadedFile(Protocol):
    """What an uploaded file offers (Starlette's ``UploadFile``, which the GraphQL
    ``Upload`` scalar gives resolvers)."""

    @property
    def filename(self) -> str | None: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def size(self) -> int | None: ...

    async def read(self, size: int = -1) -> bytes: ...

    async def seek(self, offset: int) -> None: ...


class _TooLarge(Exception):
    pass


def _too_large(field: tuple[str, ...], max_bytes: int) -> FieldError:
    message = f"the file is larger than {max_bytes} bytes"
    return FieldError(field, UploadCode.FILE_TOO_LARGE, message)


async def _head(upload: UploadedFile) -> bytes:
    """The first bytes, as many as type detection reads (fewer at the end of the file)."""
    await upload.seek(0)  # the same file may be passed twice
    head = b""
    while len(head) < HEAD_BYTES and (chunk := await upload.read(HEAD_BYTES - len(head))):
        head += chunk
    return head


async def _write(
    store: FileStore, key: str, upload: UploadedFile, head: bytes, max_bytes: int
) -> tuple[int, str]:
    """Stream ``head`` and the rest of ``upload`` under ``key``: its size and SHA-256.
    Raises ``_TooLarge`` as soon as it passes ``max_bytes``, leaving nothing stored."""
    digest = hashlib.sha256()
    size = 0
    async with store.writer(key) as writer:
        chunk = head
        while chunk:
            size += len(chunk)
            if size > max_bytes:
                raise _TooLarge()
            digest.update(chunk)
            await writer.write(chunk)
            chunk = await upload.read(CHUNK_BYTES)
    return size, digest.hexdigest()


async def store_upload(
    upload: UploadedFile,
    *,
    purpose: str,
    accepted_types: Collection[str],
    max_bytes: int,
    public: bool = False,
    field: str | tuple[str, ...] = "file",
) -> StoredFile:
    """Check and store ``upload`` in the current tenant, in the caller's transaction.

    ``accepted_types`` are media types of ``schema.files.checks.MEDIA_TYPES``; ``field``
    is the input's path in the errors. Raises ``DomainError`` with ``UPLOAD_CODES``.
    """
    check_accepted(accepted_types)
    if not _PURPOSE.fullmatch(purpose):
        raise ValueError(f"not a valid purpose: {purpose[:80]!r}")
    path = (field,) if isinstance(field, str) else field
    name = normalized(upload.filename) if upload.filename is not None else None
    head = await _head(upload)
    media_type = detect(head)
    errors = problems(path, name, upload.content_type, head, media_type, accepted_types)
    if upload.size is not None and upload.size > max_bytes:  # the parser's count: early
        errors.append(_too_large(path, max_bytes))
    raise_if_any(errors)
    # problems() refused a missing name and content of no accepted type.
    assert name is not None
    assert media_type is not None
    key = new_key()
    store = file_store()
    try:
        size, sha256 = await _write(store, key, upload, head, max_bytes)
    except _TooLarge:
        raise DomainError([_too_large(path, max_bytes)]) from None
    try:
        row = await StoredFile.create(
            key=key,
            purpose=purpose,
            filename=stored_name(name, media_type),
            media_type=media_type,
            size=size,
            sha256=sha256,
            public=public,
            uploaded_by=current_acting().principal.subject[:200],
        )
    except BaseException:
        await store.delete(key)
        raise
    after_scope_exit(_discard_unless_committed(key))
    return row


def _discard_unless_committed(key: str) -> AfterExit:
    async def discard(tenant: TenantRecord) -> None:
        try:
            async with tenant_scope(tenant):
                if not await StoredFile.exists(key=key):
                    await file_store().delete(key)
        except Exception:  # the request succeeded; the sweeper removes the bytes later
            log.warning("could not discard the bytes of an uncommitted upload", exc_info=True)

    return discard


async def discard_file(stored_file: StoredFile) -> None:
    """Never serve ``stored_file`` again (in the caller's transaction); the sweeper
    removes its bytes. The row stays, for the history of what referred to it."""
    await StoredFile.filter(id=stored_file.id, deleted_at=None).update(deleted_at=datetime.now(UTC))


async def servable_file(file_id: int) -> StoredFile | None:
    """The current tenant's file ``file_id``, unless it is unknown or discarded."""
    return await StoredFile.get_or_none(id=file_id, deleted_at=None)


async def sweep_files(now: datetime | None = None) -> int:
    """Delete the current tenant's bytes that no live file refers to, and unfinished
    writes, older than ``SWEEP_GRACE``; returns how many files were deleted."""
    cutoff = (now or datetime.now(UTC)) - SWEEP_GRACE
    store = file_store()
    await store.remove_partial_writes(cutoff)
    keys = await store.keys_older_than(cutoff)
    removed = 0
    for start in range(0, len(keys), _SWEEP_BATCH):
        batch = keys[start : start + _SWEEP_BATCH]
        live = set(
            await StoredFile.filter(key__in=batch, deleted_at=None).values_list("key", flat=True)
        )
        for key in batch:
            if key not in live:
                await store.delete(key)
                removed += 1
    return removed
