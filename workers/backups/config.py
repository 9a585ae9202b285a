"""What the backup engine needs from the composition root (``saas``), set once per
process with ``configure_backups`` before any backup job or command runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from workers.backups.keys import KeyRing
from workers.backups.retention import Retention
from workers.backups.store import BackupStore

# zstd's own worker threads for one backup: two, where there are two cores to spare.
DEFAULT_ZSTD_THREADS = 2 if (os.cpu_count() or 1) >= 2 else 0


@dataclass(frozen=True, slots=True)
class BackupConfig:
    store: BackupStore
    keys: KeyRing
    retention: Retention  # the default of tenants without a policy of their own
    interval: timedelta  # likewise: time between scheduled backups
    scratch_dir: Path  # payloads are decrypted here before they are restored
    max_verify_attempts: int = 3  # a backup failing verification is tried this often
    zstd_threads: int = DEFAULT_ZSTD_THREADS  # 0: compress on the calling thread


_config: BackupConfig | None = None


def configure_backups(config: BackupConfig | None) -> None:
    global _config
    _config = config


def backup_config() -> BackupConfig:
    if _config is None:
        raise RuntimeError("backups are not configured: call configure_backups() at start")
    return _config
