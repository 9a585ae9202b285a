"""Where sealed backups are kept: a small streaming interface, and a local folder.

An object store (S3 and alike) fits the same four calls: ``put`` is a multipart upload
completed only at the end, ``get`` a streamed download, ``list`` a prefix listing.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from workers.backups.errors import BackupError
from workers.backups.streams import read_file

KEY_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
_PARTIAL = ".partial-"


class BackupMissing(BackupError):
    code = "BACKUP_MISSING"


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int


def check_key(key: str) -> str:
    """Keys are relative paths of plain names: no ``..``, no leading dot or slash."""
    if len(key) > 255 or not KEY_RE.fullmatch(key) or _PARTIAL in key:
        raise BackupError(f"invalid backup store key {key[:80]!r}")
    return key


class BackupStore(abc.ABC):
    @abc.abstractmethod
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the stream under ``key`` (replacing any object there) and return its
        size. The object appears only once the stream ended without error."""

    @abc.abstractmethod
    def get(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes, in pieces; raises ``BackupMissing`` when there is none."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""

    @abc.abstractmethod
    async def list(self, prefix: str = "") -> list[StoredObject]:
        """Complete objects whose key starts with ``prefix``, by key."""


class LocalFolderStore(BackupStore):
    """Objects are files under ``root`` (mode 0600), written to a temporary name, synced
    and renamed into place, so a crash never leaves a partial object under a key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        final = self.path_of(key)
        scratch = final.with_name(f"{final.name}{_PARTIAL}{secrets.token_hex(4)}")
        out = await asyncio.to_thread(_create, scratch)
        try:
            size = 0
            async for chunk in chunks:
                size += await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(_sync_and_close, out)
            os.replace(scratch, final)
        except BaseException:
            out.close()
            scratch.unlink(missing_ok=True)
            raise
        return size

    async def get(self, key: str) -> AsyncIterator[bytes]:
        blocks = read_file(self.path_of(key))
        try:
            async for block in blocks:
                yield block
        except FileNotFoundError:
            raise BackupMissing(f"backup object {key!r} is missing from the store") from None
        finally:
            await blocks.aclose()

    async def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    async def list(self, prefix: str = "") -> list[StoredObject]:
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[StoredObject]:
        if not self.root.exists():
            return []
        found = []
        for path in self.root.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and _PARTIAL not in path.name and key.startswith(prefix):
                found.append(StoredObject(key, path.stat().st_size))
        return sorted(found, key=lambda o: o.key)


def _create(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _sync_and_close(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()
