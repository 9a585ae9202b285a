"""What download links need from the composition root (``saas``): the public URL they
start with and the platform secrets they are signed with. ``configure_files`` sets it
once per process; until then (tests, scripts) the development defaults apply, which
production refuses to start with (``saas/config.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from schema.core.secrets import DEVELOPMENT_SECRET, SecretRing


@dataclass(frozen=True, slots=True)
class FilesConfig:
    public_url: str = "http://localhost:8000"
    secrets: SecretRing = field(default_factory=lambda: SecretRing((DEVELOPMENT_SECRET,)))


_config = FilesConfig()


def configure_files(config: FilesConfig) -> None:
    global _config
    _config = config


def files_config() -> FilesConfig:
    return _config
