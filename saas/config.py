"""Every setting, read once from the environment and validated at start.

A bad value stops the process with a message naming the variable, what it got and what
it accepts. ``SETTINGS`` below is the single table the README documents.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from email_validator import EmailNotValidError, validate_email

from schema.core.secrets import DEVELOPMENT_SECRET, SecretRing
from tenants.config import TenancyConfig
from workers.mail.senders import sender_from_url


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


def _broker_url(raw: str) -> str | None:
    if not raw:
        return None
    if urlsplit(raw).scheme not in ("redis", "rediss", "amqp", "amqps"):
        raise ValueError("must be a redis:// or amqp:// URL, or empty for in-process workers")
    return raw


def _mail_url(raw: str) -> str:
    sender_from_url(raw, Path("."))  # refuses what it cannot use
    return raw


def _mail_from(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"must be an e-mail address: {exc}") from None


QUEUES = ("critical", "default", "webhooks", "maintenance")


def parse_pools(raw: str) -> dict[str, int]:
    """``queue:threads`` pairs, e.g. ``critical:2,default:4``."""
    pools: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        queue, _, threads = part.partition(":")
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r} (queues: {', '.join(QUEUES)})")
        pools[queue] = _int(threads) if threads else 1
        if pools[queue] < 0:
            raise ValueError("thread counts must not be negative")
    return pools


def _backup_keys(raw: str) -> dict[str, bytes]:
    """``key-id:base64-of-32-bytes`` pairs; the first is used for new backups."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key_id, _, encoded = part.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"key {key_id!r} is not base64") from None
        if not key_id or len(key) != 32:
            raise ValueError(f"key {key_id!r} must be 32 bytes (AES-256), base64-encoded")
        keys[key_id] = key
    return keys


def _public_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must have no query or fragment")
    return raw.strip().rstrip("/")


MIN_SECRET_LENGTH = 32


def _secret_keys(raw: str) -> tuple[str, ...]:
    """Comma-separated secrets, newest first; each long enough to be a key."""
    secrets = tuple(filter(None, (p.strip() for p in raw.split(","))))
    if any(len(s) < MIN_SECRET_LENGTH for s in secrets):
        raise ValueError(f"each secret must be at least {MIN_SECRET_LENGTH} characters")
    return secrets


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = _int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def parse_retention(raw: str) -> tuple[int, int, int]:
    """``daily,weekly,monthly`` counts kept, e.g. ``7,4,12``."""
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 3:
        raise ValueError("must be three counts: daily,weekly,monthly")
    counts = tuple(_int(p) for p in parts)
    if min(counts) < 0:
        raise ValueError("counts must not be negative")
    return counts  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False  # never echoed in an error message

    def shown(self, raw: str) -> str:
        """``raw`` as an error message may quote it: no secret, no password of a URL."""
        if self.secret:
            return "(hidden)"
        parts = urlsplit(raw)
        if parts.password is None:
            return repr(raw)
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return repr(urlunsplit(parts._replace(netloc=netloc)))


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
    Setting("SAAS_MAX_BODY_BYTES", "1048576", _positive_int,
            "largest request body accepted (multipart uploads: SAAS_UPLOAD_MAX_BYTES)"),
    Setting("SAAS_UPLOAD_MAX_BYTES", "20971520", _positive_int,
            "largest GraphQL multipart request (all its files together): 413 beyond"),
    Setting("SAAS_UPLOAD_MAX_FILES", "10", _bounded_int(1, 100),
            "most files in one GraphQL multipart request"),
    Setting("SAAS_FILES_DIR", "", str,
            "where uploaded files are kept, one folder per tenant (default: <data dir>/files)"),
    Setting("SAAS_LOG_LEVEL", "INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"),
            "log level (logs are JSON lines on stderr)"),
    Setting("SAAS_BROKER_URL", "", _broker_url,
            "redis:// or amqp:// selects that broker and `saas worker` processes; "
            "empty runs the workers inside `saas serve`"),
    Setting("SAAS_WORKER_POOLS", "critical:2,default:2,webhooks:1,maintenance:1", parse_pools,
            "worker threads per queue (each queue has its own pool)"),
    Setting("SAAS_WORKER_METRICS_PORT", "9191", _int,
            "Prometheus port of a `saas worker` process (0: none)"),
    Setting("SAAS_RELAY_INTERVAL", "1.0", _positive_float,
            "seconds between the relay's looks at other processes' outbox hints"),
    Setting("SAAS_REDELIVER_AFTER", "600", _positive_float,
            "seconds after which a sent but unfinished job is sent again"),
    Setting("SAAS_SCHEDULER", "true", _bool,
            "run the periodic-job scheduler in `saas serve` (safe in several processes)"),
    Setting("SAAS_BACKUP_DIR", "", str,
            "where backups are stored (default: <data dir>/backups)"),
    Setting("SAAS_BACKUP_KEYS", "", _backup_keys,
            "backup encryption keys, `id:base64` comma-separated, newest first "
            "(development: a key is made in <data dir>/keys if empty)", secret=True),
    Setting("SAAS_BACKUP_RETENTION", "7,4,12", parse_retention,
            "backups kept per tenant: daily,weekly,monthly"),
    Setting("SAAS_BACKUP_INTERVAL_HOURS", "24", _positive_float,
            "default hours between a tenant's scheduled backups"),
    Setting("SAAS_MAIL_URL", "", _mail_url,
            "where mail to users goes: smtp://user:pass@host:port (STARTTLS; `?starttls=0` "
            "for none), smtps://... (TLS), file:///dir (one .eml per message); empty: "
            "files in <data dir>/mail"),
    Setting("SAAS_MAIL_FROM", "noreply@example.com", _mail_from,
            "sender address of mail to users (the tenant's name is its display name)"),
    Setting("SAAS_PUBLIC_URL", "http://localhost:8000", _public_url,
            "the platform's public base URL: each tenant's OAuth issuer is <this>/t/<slug> "
            "(https in production)"),
    Setting("SAAS_SECRET_KEY", "", _secret_keys,
            "platform secrets, comma-separated, newest first (at least 32 characters each): "
            "seal OAuth signing keys, sign login cookies and file download links; "
            "required in production",
            secret=True),
    Setting("SAAS_OAUTH_ACCESS_TOKEN_SECONDS", "300", _bounded_int(30, 3600),
            "lifetime of OAuth access tokens"),
    Setting("SAAS_OAUTH_REFRESH_IDLE_DAYS", "14", _bounded_int(1, 365),
            "a refresh token unused this long expires"),
    Setting("SAAS_OAUTH_REFRESH_MAX_DAYS", "30", _bounded_int(1, 365),
            "a sign-in's refresh tokens all end this long after it, however used"),
    Setting("SAAS_OAUTH_KEY_ROTATION_DAYS", "90", _bounded_int(2, 3650),
            "days a signing key signs before the next one (published a day ahead) takes over"),
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
    upload_max_bytes: int
    upload_max_files: int
    files_dir: str
    log_level: str
    broker_url: str | None
    worker_pools: dict[str, int]
    worker_metrics_port: int
    relay_interval: float
    redeliver_after: float
    scheduler: bool
    backup_dir: str
    backup_keys: dict[str, bytes]
    backup_retention: tuple[int, int, int]
    backup_interval_hours: float
    mail_url: str
    mail_from: str

    public_url: str
    secret_key: tuple[str, ...]
    oauth_access_token_seconds: int
    oauth_refresh_idle_days: int
    oauth_refresh_max_days: int
    oauth_key_rotation_days: int

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def backup_path(self) -> Path:
        return Path(self.backup_dir) if self.backup_dir else self.data_dir / "backups"

    @property
    def secret_ring(self) -> SecretRing:
        """The platform secrets; without ``SAAS_SECRET_KEY`` (development only: production
        refuses to start) the fixed development secret."""
        return SecretRing(self.secret_key or (DEVELOPMENT_SECRET,))

    @property
    def mail_directory(self) -> Path:
        """Where the file sender writes when ``SAAS_MAIL_URL`` names no other place."""
        return self.data_dir / "mail"

    def tenancy(self) -> TenancyConfig:
        return TenancyConfig(
            data_dir=self.data_dir,
            database_url=self.database_url,
            registry_schema=self.registry_schema,
            max_open_tenants=self.max_open_tenants,
            pool_min_size=self.pg_pool_min,
            pool_max_size=self.pg_pool_max,
            registry_ttl=self.registry_ttl,
            files_dir=Path(self.files_dir) if self.files_dir else None,
        )


def _production_problems(values: dict[str, Any]) -> list[str]:
    problems = []
    if not values["backup_keys"]:
        problems.append("SAAS_BACKUP_KEYS is required in production")
    if not values["secret_key"]:
        problems.append("SAAS_SECRET_KEY is required in production")
    url = urlsplit(values["public_url"])
    if url.scheme != "https" and url.hostname not in ("localhost", "127.0.0.1", "::1"):
        problems.append("SAAS_PUBLIC_URL must be an https:// URL in production")
    return problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        raw = environ.get(setting.name, setting.default)
        try:
            values[setting.name.removeprefix("SAAS_").lower()] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{setting.name}={setting.shown(raw)}: {exc}")
    if not problems and values["pg_pool_min"] > values["pg_pool_max"]:
        problems.append("SAAS_PG_POOL_MIN must not exceed SAAS_PG_POOL_MAX")
    if not problems and values["env"] == "production":
        problems.extend(_production_problems(values))
    if not problems and values["oauth_refresh_idle_days"] > values["oauth_refresh_max_days"]:
        problems.append("SAAS_OAUTH_REFRESH_IDLE_DAYS must not exceed SAAS_OAUTH_REFRESH_MAX_DAYS")
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
    return Settings(**values)
