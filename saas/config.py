"""Every setting, read once from the environment and validated at start.

A bad value stops the process with a message naming the variable, what it got and what
it accepts. ``SETTINGS`` below is the single table the README documents.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tenants.config import TenancyConfig


class SettingsError(ValueError):
    pass


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return raw

    return parse


def _database_url(raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("must be a postgres:// URL, or empty for the embedded SQLite default")
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("names no host")
    return raw


def _port(raw: str) -> int:
    value = _int(raw)
    if not 0 < value < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return value


def _domain(raw: str) -> str:
    return raw.strip().lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SAAS_ENV", "development", _choice("development", "production"),
            "development serves GraphiQL and introspection; production turns both off"),
    Setting("SAAS_DATA_DIR", "./var", Path,
            "where the embedded default keeps shared.db and one file per tenant"),
    Setting("SAAS_DATABASE_URL", "", _database_url,
            "a postgres:// URL switches to PostgreSQL, one schema per tenant"),
    Setting("SAAS_REGISTRY_SCHEMA", "shared", str,
            "PostgreSQL schema of the tenant registry"),
    Setting("SAAS_HOST", "127.0.0.1", str, "address `saas serve` listens on"),
    Setting("SAAS_PORT", "8000", _port, "port `saas serve` listens on"),
    Setting("SAAS_WEB_CONCURRENCY", "1", _positive_int, "API worker processes of `saas serve`"),
    Setting("SAAS_BASE_DOMAIN", "localhost", _domain,
            "tenants are served at <slug>.<base domain>; custom domains come from the registry"),
    Setting("SAAS_DEMO_TENANT", "demo", str,
            "slug of the demo tenant `saas serve` creates on a fresh data dir (empty: none)"),
    Setting("SAAS_MAX_OPEN_TENANTS", "256", _positive_int,
            "SQLite tenant files kept open (LRU); PostgreSQL tenant facades kept"),
    Setting("SAAS_PG_POOL_MIN", "2", _positive_int, "PostgreSQL pool: connections kept open"),
    Setting("SAAS_PG_POOL_MAX", "20", _positive_int, "PostgreSQL pool: most connections"),
    Setting("SAAS_REGISTRY_TTL", "1.0", _positive_float,
            "seconds a process serves a cached tenant before re-checking the registry"),
    Setting("SAAS_GRAPHQL_MAX_DEPTH", "12", _positive_int, "deepest query nesting accepted"),
    Setting("SAAS_GRAPHQL_MAX_ALIASES", "30", _positive_int, "most aliases in one query"),
    Setting("SAAS_GRAPHQL_MAX_TOKENS", "2000", _positive_int, "most tokens in one query"),
    Setting("SAAS_GRAPHQL_MAX_COST", "1000", _positive_int,
            "highest query cost accepted (reported in extensions.cost)"),
    Setting("SAAS_MAX_BODY_BYTES", "1048576", _positive_int, "largest request body accepted"),
    Setting("SAAS_LOG_LEVEL", "INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"),
            "log level (logs are JSON lines on stderr)"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Settings:
    env: str
    data_dir: Path
    database_url: str | None
    registry_schema: str
    host: str
    port: int
    web_concurrency: int
    base_domain: str
    demo_tenant: str
    max_open_tenants: int
    pg_pool_min: int
    pg_pool_max: int
    registry_ttl: float
    graphql_max_depth: int
    graphql_max_aliases: int
    graphql_max_tokens: int
    graphql_max_cost: int
    max_body_bytes: int
    log_level: str

    @property
    def production(self) -> bool:
        return self.env == "production"

    def tenancy(self) -> TenancyConfig:
        return TenancyConfig(
            data_dir=self.data_dir,
            database_url=self.database_url,
            registry_schema=self.registry_schema,
            max_open_tenants=self.max_open_tenants,
            pool_min_size=self.pg_pool_min,
            pool_max_size=self.pg_pool_max,
            registry_ttl=self.registry_ttl,
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        raw = environ.get(setting.name, setting.default)
        try:
            values[setting.name.removeprefix("SAAS_").lower()] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{setting.name}={raw!r}: {exc}")
    if not problems and values["pg_pool_min"] > values["pg_pool_max"]:
        problems.append("SAAS_PG_POOL_MIN must not exceed SAAS_PG_POOL_MAX")
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
    return Settings(**values)
