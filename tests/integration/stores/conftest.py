"""Run the store suites on asyncio: asyncpg, the PostgreSQL driver, needs it."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Pin the anyio backend of every store test to asyncio."""
    return "asyncio"
