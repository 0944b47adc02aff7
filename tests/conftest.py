"""Shared fixtures: the anyio backend, and where the real data and PostgreSQL live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def shared_data(name: str) -> Path:
    """Return a file of ../shared/data; skip with the reason outside CI, fail in CI."""
    path = SHARED_DATA / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have ../shared/data/{name}")
        pytest.skip(f"../shared/data/{name} is not here (a user's clone has no ../shared)")
    return path
