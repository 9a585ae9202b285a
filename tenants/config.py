"""What the tenancy layer needs to know, handed in by the composition root (``saas``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TenancyConfig:
    data_dir: Path
    # None selects the embedded default: SQLite, one file per tenant under data_dir.
    database_url: str | None = None
    # PostgreSQL schema of the tenant registry; never on a tenant's search_path.
    registry_schema: str = "shared"
    # Open SQLite tenant files kept in the LRU (each costs a thread and ~0.2 MB).
    max_open_tenants: int = 256
    pool_min_size: int = 2
    pool_max_size: int = 20
    # How long a process may serve a registry entry before checking the generation.
    registry_ttl: float = 1.0
    # Where uploaded files are kept, one folder per tenant; None: <data_dir>/files.
    files_dir: Path | None = None

    @property
    def files_root(self) -> Path:
        return self.files_dir or self.data_dir / "files"

    @property
    def dialect(self) -> str:
        return "postgres" if self.database_url else "sqlite"
