"""Settings: read once from the environment, validated, every problem named at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from saas.config import SETTINGS, Settings, SettingsError, load_settings
from tenants.config import TenancyConfig


def test_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings(
        env="development",
        data_dir=Path("./var"),
        database_url=None,
        registry_schema="shared",
        host="127.0.0.1",
        port=8000,
        web_concurrency=1,
        base_domain="localhost",
        demo_tenant="demo",
        max_open_tenants=256,
        pg_pool_min=2,
        pg_pool_max=20,
        registry_ttl=1.0,
        graphql_max_depth=12,
        graphql_max_aliases=30,
        graphql_max_tokens=2000,
        graphql_max_cost=1000,
        max_body_bytes=1048576,
        upload_max_bytes=20971520,
        upload_max_files=10,
        files_dir="",
        log_level="INFO",
        broker_url=None,
        worker_pools={"critical": 2, "default": 2, "webhooks": 1, "maintenance": 1},
        worker_metrics_port=9191,
        relay_interval=1.0,
        redeliver_after=600.0,
        scheduler=True,
        backup_dir="",
        backup_keys={},
        backup_retention=(7, 4, 12),
        backup_interval_hours=24.0,
        mail_url="",
        mail_from="noreply@example.com",
        public_url="http://localhost:8000",
        secret_key=(),
        oauth_access_token_seconds=300,
        oauth_refresh_idle_days=14,
        oauth_refresh_max_days=30,
        oauth_key_rotation_days=90,
    )
    assert settings.production is False
    assert settings.mail_directory == Path("./var/mail")
    assert settings.backup_path == Path("./var/backups")
    assert settings.tenancy().files_root == Path("./var/files")


def test_load_settings_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAAS_PORT", "8123")
    assert load_settings().port == 8123


def test_every_setting_is_in_the_table_once() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(name.startswith("SAAS_") for name in names)
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {name.removeprefix("SAAS_").lower() for name in names} == fields
    assert all(s.help for s in SETTINGS)


PRODUCTION_SECRETS = {
    "SAAS_BACKUP_KEYS": "k:" + "A" * 43 + "=",
    "SAAS_SECRET_KEY": "a-production-secret-of-at-least-32-chars",
}


@pytest.mark.parametrize(
    ("environ", "attribute", "expected"),
    [
        ({"SAAS_ENV": "production", **PRODUCTION_SECRETS}, "production", True),
        ({"SAAS_BASE_DOMAIN": " Example.COM. "}, "base_domain", "example.com"),
        ({"SAAS_DATABASE_URL": "postgres://db.internal/app"}, "database_url", None),
        ({"SAAS_DATABASE_URL": "postgresql:///app?host=/run/pg"}, "database_url", None),
        ({"SAAS_REGISTRY_TTL": "0.05"}, "registry_ttl", 0.05),
        ({"SAAS_DATA_DIR": "/srv/saas"}, "data_dir", Path("/srv/saas")),
    ],
)
def test_values_are_parsed(environ: dict[str, str], attribute: str, expected: object) -> None:
    if expected is None:  # URLs are kept as given
        expected = environ["SAAS_DATABASE_URL"]
    assert getattr(load_settings(environ), attribute) == expected


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("SAAS_ENV", "staging", "must be one of development, production"),
        ("SAAS_PORT", "0", "must be a TCP port (1-65535)"),
        ("SAAS_PORT", "65536", "must be a TCP port (1-65535)"),
        ("SAAS_PORT", "http", "must be a whole number"),
        ("SAAS_DATABASE_URL", "mysql://db/app", "must be a postgres:// URL"),
        ("SAAS_DATABASE_URL", "postgres:///app", "names no host"),
        ("SAAS_REGISTRY_TTL", "0", "must be a positive number"),
        ("SAAS_GRAPHQL_MAX_DEPTH", "-3", "must be a positive whole number"),
        ("SAAS_MAX_BODY_BYTES", "1.5", "must be a whole number"),
        ("SAAS_LOG_LEVEL", "TRACE", "must be one of DEBUG, INFO, WARNING, ERROR"),
        ("SAAS_MAIL_URL", "http://mx", "must be file:///path, smtp://host or smtps://host"),
        ("SAAS_MAIL_URL", "smtp://mx?tls=1", "unknown parameters tls"),
        ("SAAS_MAIL_FROM", "noreply", "must be an e-mail address"),
    ],
)
def test_invalid_value_names_variable_value_and_rule(name: str, raw: str, reason: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: raw})
    assert f"{name}={raw!r}: " in str(caught.value)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("name", "raw", "shown"),
    [
        ("SAAS_SECRET_KEY", "too-short-secret", "=(hidden): "),
        ("SAAS_BACKUP_KEYS", "k1:not-base64!", "=(hidden): "),
        ("SAAS_MAIL_URL", "smtp://ops:hunter2@mx?tls=1", "='smtp://ops:***@mx?tls=1': "),
        ("SAAS_DATABASE_URL", "mysql://app:hunter2@db/app", "='mysql://app:***@db/app': "),
    ],
)
def test_an_invalid_secret_is_not_echoed(name: str, raw: str, shown: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: raw})
    assert f"{name}{shown}" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert raw not in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"SAAS_PORT": "0", "SAAS_ENV": "prod", "SAAS_GRAPHQL_MAX_COST": "0"})
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid settings:"
    assert sorted(line.split("=")[0].strip() for line in lines[1:]) == [
        "SAAS_ENV",
        "SAAS_GRAPHQL_MAX_COST",
        "SAAS_PORT",
    ]


def test_pool_min_above_max_is_refused() -> None:
    with pytest.raises(SettingsError, match="SAAS_PG_POOL_MIN must not exceed SAAS_PG_POOL_MAX"):
        load_settings({"SAAS_PG_POOL_MIN": "5", "SAAS_PG_POOL_MAX": "4"})


def test_tenancy_config_carries_the_tenancy_settings() -> None:
    settings = load_settings(
        {
            "SAAS_DATA_DIR": "/data",
            "SAAS_DATABASE_URL": "postgres://db/app",
            "SAAS_REGISTRY_SCHEMA": "registry",
            "SAAS_MAX_OPEN_TENANTS": "9",
            "SAAS_PG_POOL_MIN": "1",
            "SAAS_PG_POOL_MAX": "3",
            "SAAS_REGISTRY_TTL": "2.5",
        }
    )
    assert settings.tenancy() == TenancyConfig(
        data_dir=Path("/data"),
        database_url="postgres://db/app",
        registry_schema="registry",
        max_open_tenants=9,
        pool_min_size=1,
        pool_max_size=3,
        registry_ttl=2.5,
    )
    assert settings.tenancy().dialect == "postgres"
    assert load_settings({}).tenancy().dialect == "sqlite"


def test_files_may_live_outside_the_data_dir() -> None:
    settings = load_settings({"SAAS_DATA_DIR": "/data", "SAAS_FILES_DIR": "/mnt/files"})
    assert settings.tenancy().files_root == Path("/mnt/files")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SAAS_UPLOAD_MAX_BYTES": "0"}, "SAAS_UPLOAD_MAX_BYTES='0': must be a positive"),
        ({"SAAS_UPLOAD_MAX_FILES": "101"}, "SAAS_UPLOAD_MAX_FILES='101': must be between 1 and"),
    ],
)
def test_upload_limits_are_validated(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SAAS_BROKER_URL", "kafka://x", "must be a redis:// or amqp:// URL"),
        ("SAAS_WORKER_POOLS", "critical:2,bulk:1", "unknown queue 'bulk'"),
        ("SAAS_WORKER_POOLS", "critical:-1", "must not be negative"),
        ("SAAS_BACKUP_KEYS", "k1:c2hvcnQ=", "must be 32 bytes"),
        ("SAAS_BACKUP_KEYS", "k1:***", "is not base64"),
        ("SAAS_BACKUP_RETENTION", "7,4", "three counts"),
    ],
)
def test_background_and_backup_settings_are_validated(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({name: value})


def test_production_requires_backup_keys() -> None:
    with pytest.raises(SettingsError, match="SAAS_BACKUP_KEYS is required in production"):
        load_settings({"SAAS_ENV": "production"})
    key = "k1:" + "A" * 43 + "="
    environ = {**PRODUCTION_SECRETS, "SAAS_ENV": "production", "SAAS_BACKUP_KEYS": key}
    settings = load_settings(environ)
    assert list(settings.backup_keys) == ["k1"]
    assert len(settings.backup_keys["k1"]) == 32


def test_production_requires_a_secret_key_and_an_https_public_url() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"SAAS_ENV": "production", "SAAS_PUBLIC_URL": "http://api.example.com"})
    assert "SAAS_SECRET_KEY is required in production" in str(caught.value)
    assert "SAAS_PUBLIC_URL must be an https:// URL in production" in str(caught.value)
    settings = load_settings(
        {
            **PRODUCTION_SECRETS,
            "SAAS_ENV": "production",
            "SAAS_PUBLIC_URL": "https://api.example.com/",
        }
    )
    assert settings.public_url == "https://api.example.com"
    assert settings.secret_key == (PRODUCTION_SECRETS["SAAS_SECRET_KEY"],)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SAAS_PUBLIC_URL": "ftp://x.example"}, "must be an http:// or https:// URL"),
        ({"SAAS_PUBLIC_URL": "https://x.example/?a=1"}, "no query or fragment"),
        ({"SAAS_SECRET_KEY": "short"}, "at least 32 characters"),
        ({"SAAS_OAUTH_ACCESS_TOKEN_SECONDS": "86400"}, "between 30 and 3600"),
        ({"SAAS_OAUTH_REFRESH_IDLE_DAYS": "60"}, "must not exceed SAAS_OAUTH_REFRESH_MAX_DAYS"),
    ],
)
def test_oauth_settings_are_validated(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert [s.name for s in SETTINGS if f"| `{s.name}` |" not in readme] == []
