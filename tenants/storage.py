"""Each tenant's files: bytes under keys the server makes, in the process's file store.

The default store is a local folder, ``<files root>/<tenant id>/<key[:2]>/<key>``
(``SAAS_FILES_DIR``, else ``<data dir>/files``). The tenant always comes from the current
``tenant_scope()`` and the key from ``new_key()``; both are checked against their shape on
every call, so nothing a request sends ever becomes part of a path.

Writes are all or nothing: the bytes go to a temporary file in the final folder, are
flushed to disk and renamed into place when the ``writer()`` block ends; an exception in
the block removes the temporary file. A process killed mid-write leaves a ``.part`` file,
which ``remove_partial_writes`` (the sweeper) removes later.

``FileStore`` is what the domain uses, so an object store (S3 and the like: multipart
upload, abort on failure) can take the local folder's place in ``file_store()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from tenants.runtime import get_tenancy
from tenants.scope import current_tenant

CHUNK_BYTES = 64 * 1024
PART_SUFFIX = ".part"
_KEY = re.compile(r"[0-9a-f]{32}")
_TENANT_ID = re.compile(r"[a-z0-9]{1,64}")


class StoredBytesMissing(LookupError):
    """No bytes under that key in the current tenant's store."""


def new_key() -> str:
    """A fresh random key (128 bits): unguessable, and safe as a file name."""
    return secrets.token_hex(16)


def is_key(value: str) -> bool:
    """Whether ``value`` has the shape of a key ``new_key()`` makes."""
    return bool(_KEY.fullmatch(value))


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"not a valid {what}: {value[:80]!r}")
    return value


class FileWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...


class FileReader(Protocol):
    def chunks(self) -> AsyncIterator[bytes]:
        """The bytes in order; the reader closes itself once they are all read."""
        ...

    def close(self) -> None:
        """Idempotent: for a reader whose chunks are not (all) read."""
        ...


class FileStore(Protocol):
    def writer(self, key: str) -> AbstractAsyncContextManager[FileWriter]:
        """Bytes written in the block are stored under ``key`` when it ends without an
        exception, and not at all otherwise."""
        ...

    async def open(self, key: str) -> FileReader:
        """Raises ``StoredBytesMissing``."""
        ...

    async def delete(self, key: str) -> None:
        """Idempotent."""
        ...

    async def keys_older_than(self, cutoff: datetime) -> list[str]:
        """The current tenant's stored keys written before ``cutoff`` (the sweeper's
        candidates)."""
        ...

    async def remove_partial_writes(self, cutoff: datetime) -> int:
        """Remove what writes of killed processes left behind before ``cutoff``."""
        ...

    async def purge(self, tenant_id: str) -> None:
        """Remove every file of a tenant being deleted (no scope: it is not served)."""
        ...

    def of_tenant(self, tenant_id: str) -> FileStore:
        """This store for ``tenant_id`` instead of the current scope's tenant: for
        operator work on a tenant that is not served (a backup of a suspended tenant, a
        restore into one not yet active)."""
        ...


class _LocalWriter:
    __slots__ = ("_handle",)

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(self._handle.write, chunk)


class _LocalReader:
    __slots__ = ("_handle",)

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(self._handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._handle.close()


def _commit(handle: BinaryIO, temporary: Path, final: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.replace(temporary, final)
    folder = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


def _discard(handle: BinaryIO, temporary: Path) -> None:
    """Synchronous on purpose: it runs while the task may be cancelled, when an await
    would be cancelled again before it removed anything."""
    handle.close()
    temporary.unlink(missing_ok=True)


def _modified_before(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:  # removed meanwhile (a concurrent sweep)
        return False


class LocalFileStore:
    def __init__(self, root: Path, tenant_id: str | None = None) -> None:
        self.root = root
        self._tenant_id = tenant_id  # None: the current scope's tenant

    def _tenant_folder(self, tenant_id: str) -> Path:
        return self.root / _checked(_TENANT_ID, tenant_id, "tenant id")

    def _current_folder(self) -> Path:
        return self._tenant_folder(self._tenant_id or current_tenant().id)

    def of_tenant(self, tenant_id: str) -> LocalFileStore:
        return LocalFileStore(self.root, _checked(_TENANT_ID, tenant_id, "tenant id"))

    def _path(self, key: str) -> Path:
        key = _checked(_KEY, key, "file key")
        return self._current_folder() / key[:2] / key

    @staticmethod
    def _create_temporary(final: Path) -> tuple[BinaryIO, Path]:
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=PART_SUFFIX)
        return os.fdopen(fd, "wb"), Path(name)

    @asynccontextmanager
    async def writer(self, key: str) -> AsyncIterator[FileWriter]:
        final = self._path(key)
        handle, temporary = await asyncio.to_thread(self._create_temporary, final)
        try:
            yield _LocalWriter(handle)
            await asyncio.to_thread(_commit, handle, temporary, final)
        except BaseException:
            _discard(handle, temporary)
            raise

    async def open(self, key: str) -> FileReader:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise StoredBytesMissing(key) from None
        return _LocalReader(handle)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def keys_older_than(self, cutoff: datetime) -> list[str]:
        folder = self._current_folder()

        def scan() -> list[str]:
            return sorted(
                path.name
                for path in folder.glob("??/*")
                if _KEY.fullmatch(path.name) and _modified_before(path, cutoff.timestamp())
            )

        return await asyncio.to_thread(scan)

    async def remove_partial_writes(self, cutoff: datetime) -> int:
        folder = self._current_folder()

        def remove() -> int:
            stale = [
                p
                for p in folder.glob(f"??/.*{PART_SUFFIX}")
                if _modified_before(p, cutoff.timestamp())
            ]
            for path in stale:
                path.unlink(missing_ok=True)
            return len(stale)

        return await asyncio.to_thread(remove)

    async def purge(self, tenant_id: str) -> None:
        folder = self._tenant_folder(tenant_id)

        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):  # the tenant never stored a file
                shutil.rmtree(folder)

        await asyncio.to_thread(remove)


def file_store() -> FileStore:
    """The store of this process's tenancy runtime (each test's runtime has its own data
    dir). An object store would be chosen here from the configuration."""
    return LocalFileStore(get_tenancy().config.files_root)
