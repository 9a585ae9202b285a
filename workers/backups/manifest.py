"""The manifest sealed at the end of every backup: what it holds and how to check a
restored copy. The metadata row repeats it, so listing needs no store access; a restore
trusts the sealed copy and checks that the row agrees.

A tenant backup's payload is the database snapshot (``database_size`` bytes) followed by
the bytes of each file in ``files``, in that order; ``missing_files`` are the keys the
snapshot's live ``stored_file`` rows name whose bytes were gone when the backup read them
(discarded and swept meanwhile). A manifest without ``database_size`` (backups made
before files were included) holds the database alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tenants.storage import is_key
from workers.backups.engines import Contents, FileRef
from workers.backups.errors import BackupCorrupt


@dataclass(frozen=True, slots=True)
class Manifest:
    backup_id: int
    kind: str
    tenant_id: str | None
    slug: str | None
    display_name: str | None
    engine: str
    source: str  # the schema (or SQLite file) it was taken from
    schema_version: str | None
    row_counts: dict[str, int]
    taken_at: str  # ISO 8601, UTC
    raw_size: int = 0  # filled in by the sealer
    database_size: int | None = None  # None: the payload is the database alone
    files: list[FileRef] = field(default_factory=list)  # in payload order
    missing_files: list[str] = field(default_factory=list)

    @property
    def contents(self) -> Contents:
        return Contents(self.schema_version, self.row_counts)

    def sealed_fields(self) -> dict[str, Any]:
        """What the sealer writes; it adds the payload's size."""
        fields = asdict(self)
        del fields["raw_size"]
        return fields

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Manifest:
        try:
            manifest = cls(**data)
            files = [FileRef(**entry) for entry in manifest.files]
        except TypeError as exc:
            raise BackupCorrupt(f"the manifest is malformed: {exc}") from None
        counts = manifest.row_counts
        if not isinstance(counts, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in counts.items()
        ):
            raise BackupCorrupt("the manifest's row counts are malformed")
        if not all(
            isinstance(f.key, str)
            and is_key(f.key)
            and isinstance(f.size, int)
            and isinstance(f.sha256, str)
            for f in files
        ):
            raise BackupCorrupt("the manifest's files are malformed")
        return replace(manifest, files=files)
