"""Run the store contract on `MemoryStore`, the reference the SQL backends are held to."""

from __future__ import annotations

import pytest

from runtime._journal import MemoryStore
from tests.integration.stores.contract import StoreContract, StoreFactory


class TestMemoryStore(StoreContract):
    """Hold `MemoryStore` to the same contract as the SQL stores."""

    no_sql = "MemoryStore runs no SQL: it has no UPDATE or DELETE to refuse"

    @pytest.fixture
    def new_store(self) -> StoreFactory:
        """Return the same store each time: closing a MemoryStore keeps its data."""
        store = MemoryStore()
        return lambda: store
