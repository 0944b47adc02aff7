"""Run the candle store contract on `PostgresCandleStore`, in a schema of its own per test.

Skips when the server is unreachable, except in CI, where it fails (see `test_postgres`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from adapters.stores.candles_postgres import PostgresCandleStore
from tests.integration.stores.candles_contract import (
    BTC,
    CandleStoreContract,
    CandleStoreFactory,
    bar,
)
from tests.integration.stores.test_postgres import DSN, require_server


@pytest.fixture
async def candle_schema() -> AsyncIterator[str]:
    """Yield a fresh schema name; drop the schema after the test."""
    await require_server()
    name = f"kinetic_test_{uuid.uuid4().hex[:12]}"
    yield name
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.mark.postgres
class TestPostgresCandleStore(CandleStoreContract):
    """Hold `PostgresCandleStore` to the contract, in a schema of its own."""

    @pytest.fixture
    def new_store(self, candle_schema: str) -> CandleStoreFactory:
        """Return stores over the test's schema."""
        return lambda: PostgresCandleStore(DSN, schema=candle_schema)


@pytest.mark.anyio
@pytest.mark.postgres
async def test_prices_are_numeric_with_their_scale(candle_schema: str) -> None:
    store = PostgresCandleStore(DSN, schema=candle_schema)
    await store.open()
    try:
        await store.upsert(BTC, [bar(0)])
        conn = await asyncpg.connect(DSN)
        try:
            high = await conn.fetchval(f'SELECT high FROM "{candle_schema}".candles')
        finally:
            await conn.close()
        assert high.as_tuple() == Decimal("16540.00000").as_tuple()
    finally:
        await store.close()
