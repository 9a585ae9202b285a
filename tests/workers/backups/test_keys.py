"""Backup keys: the first seals, all open; a development key is made once."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from workers.backups.errors import BackupError, BackupKeyMissing
from workers.backups.keys import DEV_KEY_FILE, KeyRing, development_keyring


def test_the_first_key_is_current_and_every_key_is_found() -> None:
    new, old = os.urandom(32), os.urandom(32)
    ring = KeyRing({"2025-06": new, "2024-01": old})

    assert (ring.current_id, ring.current) == ("2025-06", new)
    assert ring.get("2024-01") == old
    with pytest.raises(BackupKeyMissing, match="2023"):
        ring.get("2023")


@pytest.mark.parametrize(
    "keys", [{}, {"k": b"short"}, {"bad id!": os.urandom(32)}, {"x" * 65: os.urandom(32)}]
)
def test_unusable_keys_are_refused(keys: dict[str, bytes]) -> None:
    with pytest.raises(BackupError):
        KeyRing(keys)


def test_a_development_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = development_keyring(tmp_path)
    second = development_keyring(tmp_path)

    assert first == second
    assert first.current_id.startswith("dev-")
    mode = os.stat(tmp_path / "keys" / DEV_KEY_FILE).st_mode
    assert stat.S_IMODE(mode) == 0o600
