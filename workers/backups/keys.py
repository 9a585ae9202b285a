"""Backup encryption keys: several may be configured so that keys can rotate.

The first key seals new backups; every configured key can open old ones (the key id is
written in each backup's header). Removing a key from the configuration makes the
backups sealed with it unreadable: rotate by adding the new key first, and drop the old
one only after its backups have aged out of retention.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from workers.backups.errors import BackupError, BackupKeyMissing

KEY_BYTES = 32  # AES-256
KEY_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DEV_KEY_FILE = "backup-dev.key"


@dataclass(frozen=True, slots=True)
class KeyRing:
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if not self.keys:
            raise BackupError("no backup encryption key is configured")
        for key_id, key in self.keys.items():
            if not KEY_ID_RE.fullmatch(key_id):
                raise BackupError(
                    f"backup key id {key_id[:80]!r} must be 1-64 of A-Z a-z 0-9 . _ -"
                )
            if len(key) != KEY_BYTES:
                raise BackupError(f"backup key {key_id!r} must be {KEY_BYTES} bytes")
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    @property
    def current_id(self) -> str:
        return next(iter(self.keys))

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise BackupKeyMissing(
                f"the backup was sealed with key {key_id[:64]!r}, which is not configured"
            ) from None


def development_keyring(data_dir: Path) -> KeyRing:
    """A key of this data dir, made on first use (``<data dir>/keys``, mode 0600), for
    development set-ups without ``SAAS_BACKUP_KEYS``. Its id carries a fingerprint, so a
    regenerated key is never mistaken for the lost one."""
    path = data_dir / "keys" / DEV_KEY_FILE
    if not path.exists():
        _write_new_key(path)
    key_id, _, encoded = path.read_text().strip().partition(":")
    return KeyRing({key_id: base64.b64decode(encoded)})


def _write_new_key(path: Path) -> None:
    """Write the key file at once or not at all: a second process racing this one keeps
    the first key (``link`` fails when the name exists)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(KEY_BYTES)
    key_id = "dev-" + hashlib.sha256(key).hexdigest()[:12]
    scratch = path.with_name(f"{path.name}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"{key_id}:{base64.b64encode(key).decode()}\n")
    try:
        os.link(scratch, path)
    except FileExistsError:
        pass
    finally:
        scratch.unlink()
