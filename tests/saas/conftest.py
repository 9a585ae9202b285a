"""Fixtures for the HTTP edge.

``running_app`` runs a test once per backend (SQLite, and PostgreSQL when it answers);
``start_app`` starts the app with other settings.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.saas.harness import AppStarter, RunningApp, serve
from tests.schema.files.toy import uploads_in_schema


@pytest.fixture
def start_app(tmp_path: Path) -> AppStarter:
    """``async with start_app("sqlite", SAAS_ENV="production") as running: ...``"""

    def start(dialect: str, **overrides: str) -> AbstractAsyncContextManager[RunningApp]:
        return serve(dialect, tmp_path / f"var-{uuid.uuid4().hex[:8]}", **overrides)

    return start


@pytest.fixture
async def running_app(dialect: str, start_app: AppStarter) -> AsyncIterator[RunningApp]:
    """The app with default settings, once per backend."""
    async with start_app(dialect) as running:
        yield running


@pytest.fixture
def with_uploads() -> Iterator[list[Any]]:
    """Toy mutations taking uploads in the apps the test starts; the uploads they got."""
    with uploads_in_schema() as received:
        yield received
