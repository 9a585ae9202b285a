"""The backup container, version 1: a zstd stream sealed in AES-256-GCM chunks, then the
manifest as the final sealed chunk.

Layout::

    header   MAGIC "SAASBK" | version u8 | chunk size u32 | salt (16) | nonce prefix (8)
             | key id length u8 | key id (ASCII)
    frames   length u32 (top bit: final frame) | AES-GCM ciphertext and tag
             ...the payload's zstd stream in frames of at most ``chunk size`` bytes,
             then one final frame holding the manifest (JSON)

Each backup has its own AES key, derived with HKDF-SHA256 from the configured key and the
header's random salt. Frame ``i`` is sealed with the nonce ``prefix || u32(i)`` and the
associated data ``header || u64(i) || final``: a flipped byte, a cut file (no final
frame), a frame removed, repeated or moved, a changed header and a wrong key all fail
authentication, and bytes after the final frame are refused. The zstd frame carries its
content checksum (XXH64, checked by the decompressor) and the manifest the payload's
size, so a faulty decompression is caught as well.

``Sealer`` and ``Opener`` are synchronous and CPU-bound: callers run them in a thread.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Mapping
from typing import Any

import orjson
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from workers.backups.errors import BackupCorrupt
from workers.backups.keys import KeyRing

MAGIC = b"SAASBK"
VERSION = 1
CHUNK_SIZE = 1 << 20
ZSTD_LEVEL = 3
TAG_BYTES = 16
MAX_MANIFEST = 4 << 20
_FIXED = struct.Struct(">6sBI16s8sB")  # magic, version, chunk size, salt, prefix, id length
_FRAME = struct.Struct(">I")
_FINAL_BIT = 1 << 31
_KDF_INFO = b"saas-backup-v1"
_MIN_CHUNK, _MAX_CHUNK = 4 << 10, 64 << 20


def _file_key(master: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_KDF_INFO)
    return AESGCM(derived.derive(master))


class _Frames:
    """Sealing and opening one container's frames, in order: frame ``i`` has the nonce
    ``prefix || u32(i)`` and the associated data ``header || u64(i) || final``."""

    def __init__(self, header: bytes, prefix: bytes, aead: AESGCM) -> None:
        self.header = header
        self.prefix = prefix
        self.aead = aead
        self.index = 0

    def _next(self, final: bool) -> tuple[bytes, bytes]:
        if self.index >= 1 << 32:
            raise BackupCorrupt("too many frames")
        nonce = self.prefix + struct.pack(">I", self.index)
        aad = self.header + struct.pack(">QB", self.index, final)
        self.index += 1
        return nonce, aad

    def seal(self, plain: bytes, final: bool) -> bytes:
        nonce, aad = self._next(final)
        sealed = self.aead.encrypt(nonce, plain, aad)
        return _FRAME.pack(len(sealed) | (_FINAL_BIT if final else 0)) + sealed

    def open(self, sealed: bytes, final: bool, key_id: str) -> bytes:
        index = self.index
        nonce, aad = self._next(final)
        try:
            return self.aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise BackupCorrupt(
                f"frame {index} failed authentication: the backup was changed, cut or "
                f"reordered, or key {key_id!r} is not the key it was sealed with"
            ) from None


class Sealer:
    """Compresses and seals a payload fed in pieces; ``finish`` adds the manifest.

    Tracks the payload's size (written into the manifest) and the stored object's size
    and SHA-256 (for the metadata row)."""

    def __init__(
        self, key_id: str, key: bytes, *, chunk_size: int = CHUNK_SIZE, zstd_threads: int = 0
    ) -> None:
        salt, prefix = os.urandom(16), os.urandom(8)
        encoded_id = key_id.encode("ascii")
        self.header = (
            _FIXED.pack(MAGIC, VERSION, chunk_size, salt, prefix, len(encoded_id)) + encoded_id
        )
        self._frames = _Frames(self.header, prefix, _file_key(key, salt))
        self._chunk_size = chunk_size
        self._compressor = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL, threads=zstd_threads, write_checksum=True
        ).compressobj()
        self._pending = bytearray()
        self._started = False
        self.raw_size = 0
        self.stored_size = 0
        self.stored_sha256 = hashlib.sha256()

    def feed(self, raw: bytes) -> bytes:
        self.raw_size += len(raw)
        self._pending += self._compressor.compress(raw)
        return self._emit(self._full_chunks())

    def finish(self, manifest: Mapping[str, Any]) -> bytes:
        """The rest of the payload, then the manifest (with the payload's size added) as
        the final frame."""
        self._pending += self._compressor.flush()
        frames = self._full_chunks()
        if self._pending:
            frames.append(self._frames.seal(bytes(self._pending), final=False))
            self._pending.clear()
        body = dict(manifest, raw_size=self.raw_size)
        frames.append(self._frames.seal(orjson.dumps(body), final=True))
        return self._emit(frames)

    def _full_chunks(self) -> list[bytes]:
        size, frames = self._chunk_size, []
        while len(self._pending) >= size:
            frames.append(self._frames.seal(bytes(self._pending[:size]), final=False))
            del self._pending[:size]
        return frames

    def _emit(self, frames: list[bytes]) -> bytes:
        if not self._started:
            frames.insert(0, self.header)
            self._started = True
        out = b"".join(frames)
        self.stored_size += len(out)
        self.stored_sha256.update(out)
        return out


class Opener:
    """Authenticates, decrypts and decompresses a stored object fed in pieces.

    ``feed`` returns the payload bytes recovered so far; ``finish`` checks that the final
    frame was seen with nothing after it and returns the manifest. A payload is whole and
    authentic only once ``finish`` has returned: never apply it before."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys
        self._buffer = bytearray()
        self._frames: _Frames | None = None
        self._max_frame = 0
        self._decompressor = zstandard.ZstdDecompressor().decompressobj()
        self.manifest: dict[str, Any] | None = None
        self.key_id = ""
        self.raw_size = 0
        self.stored_sha256 = hashlib.sha256()

    def feed(self, data: bytes) -> bytes:
        self.stored_sha256.update(data)
        self._buffer += data
        if self._frames is None and not self._read_header():
            return b""
        return self._decompress(b"".join(iter(self._next_frame, None)))

    def finish(self) -> dict[str, Any]:
        if self._frames is None:
            raise BackupCorrupt("truncated: the header is incomplete")
        if self.manifest is None:
            raise BackupCorrupt("truncated: the final frame is missing")
        if not self._decompressor.eof:
            raise BackupCorrupt("the compressed payload is incomplete")
        if self.manifest.get("raw_size") != self.raw_size:
            raise BackupCorrupt("the payload's size differs from the manifest")
        return self.manifest

    def _read_header(self) -> bool:
        if len(self._buffer) < _FIXED.size:
            return False
        magic, version, chunk_size, salt, prefix, id_length = _FIXED.unpack_from(self._buffer)
        if magic != MAGIC:
            raise BackupCorrupt("not a backup (bad magic)")
        if version != VERSION:
            raise BackupCorrupt(f"unsupported backup format version {version}")
        if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
            raise BackupCorrupt("implausible chunk size in the header")
        end = _FIXED.size + id_length
        if len(self._buffer) < end:
            return False
        header = bytes(self._buffer[:end])
        try:
            self.key_id = header[_FIXED.size :].decode("ascii")
        except UnicodeDecodeError:
            raise BackupCorrupt("the key id in the header is not ASCII") from None
        self._frames = _Frames(header, prefix, _file_key(self._keys.get(self.key_id), salt))
        self._max_frame = max(chunk_size, MAX_MANIFEST) + TAG_BYTES
        del self._buffer[:end]
        return True

    def _next_frame(self) -> bytes | None:
        """The next payload frame's plaintext; None when no whole frame is buffered (or
        the final frame was just read: its plaintext is the manifest)."""
        if self.manifest is not None:
            if self._buffer:
                raise BackupCorrupt("data follows the final frame")
            return None
        if len(self._buffer) < _FRAME.size:
            return None
        (word,) = _FRAME.unpack_from(self._buffer)
        final, length = bool(word & _FINAL_BIT), word & ~_FINAL_BIT
        if not TAG_BYTES <= length <= self._max_frame:
            raise BackupCorrupt("implausible frame length")
        end = _FRAME.size + length
        if len(self._buffer) < end:
            return None
        assert self._frames is not None
        plain = self._frames.open(bytes(self._buffer[_FRAME.size : end]), final, self.key_id)
        del self._buffer[:end]
        if not final:
            return plain
        self.manifest = _parse_manifest(plain)
        return self._next_frame()

    def _decompress(self, compressed: bytes) -> bytes:
        if not compressed:
            return b""
        if self._decompressor.eof:
            raise BackupCorrupt("data follows the end of the compressed payload")
        try:
            raw = self._decompressor.decompress(compressed)
        except zstandard.ZstdError as exc:
            raise BackupCorrupt(f"the compressed payload is damaged: {exc}") from None
        if self._decompressor.unused_data:
            raise BackupCorrupt("data follows the end of the compressed payload")
        self.raw_size += len(raw)
        return raw


def _parse_manifest(plain: bytes) -> dict[str, Any]:
    try:
        manifest = orjson.loads(plain)
    except orjson.JSONDecodeError:
        raise BackupCorrupt("the manifest is not JSON") from None
    if not isinstance(manifest, dict):
        raise BackupCorrupt("the manifest is not an object")
    return manifest
