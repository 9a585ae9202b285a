"""The backup engine's configuration from the settings (``configure_backups`` takes it,
once per process, before backup jobs or commands run)."""

from __future__ import annotations

from datetime import timedelta

from saas.config import Settings
from workers.backups.config import BackupConfig
from workers.backups.keys import KeyRing, development_keyring
from workers.backups.retention import Retention
from workers.backups.store import LocalFolderStore


def backup_config(settings: Settings) -> BackupConfig:
    """Without ``SAAS_BACKUP_KEYS`` (development only: production refuses to start) a
    key is made in the data dir."""
    keys = (
        KeyRing(settings.backup_keys)
        if settings.backup_keys
        else development_keyring(settings.data_dir)
    )
    return BackupConfig(
        store=LocalFolderStore(settings.backup_path),
        keys=keys,
        retention=Retention(*settings.backup_retention),
        interval=timedelta(hours=settings.backup_interval_hours),
        scratch_dir=settings.data_dir / "backup-scratch",
    )
