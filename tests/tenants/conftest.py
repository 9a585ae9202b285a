"""Fixtures of the tenancy tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tenants.runtime import Tenancy
from tests.conftest import make_tenancy_config, running_tenancy

# A registry TTL short enough to wait out in a test.
FAST_TTL = 0.2


@pytest.fixture
async def fast_tenancy(dialect: str, tmp_path: Path) -> AsyncIterator[Tenancy]:
    """Like ``tenancy``, with a registry cache that expires after ``FAST_TTL`` seconds."""
    config = make_tenancy_config(dialect, tmp_path / "var", registry_ttl=FAST_TTL)
    async with running_tenancy(config) as runtime:
        yield runtime
