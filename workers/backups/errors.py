"""Errors of the backup engine. All are ``TenancyError``s, so the command line reports
them as plain errors."""

from tenants.errors import TenancyError


class BackupError(TenancyError):
    code = "BACKUP_ERROR"


class BackupCorrupt(BackupError):
    """The stored object is not what was written: tampered, truncated, reordered, or
    sealed with another key. Nothing is restored from it."""

    code = "BACKUP_CORRUPT"


class BackupKeyMissing(BackupError):
    """The backup was sealed with a key id that is not configured (any more)."""

    code = "BACKUP_KEY_MISSING"


class BackupMismatch(BackupError):
    """The restored copy disagrees with the manifest (schema version or row counts)."""

    code = "BACKUP_MISMATCH"


class BackupRefused(BackupError):
    """The operation is not allowed in this state (a restore over an active tenant, a
    backup of another database engine, a schema object that names another schema)."""

    code = "BACKUP_REFUSED"
