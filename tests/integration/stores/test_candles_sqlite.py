"""Run the candle store contract on `SqliteCandleStore`, plus what only a file store shows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.stores.candles_sqlite import SqliteCandleStore
from runtime.config import StoreConfig
from tests.integration.stores.candles_contract import (
    BTC,
    CandleStoreContract,
    CandleStoreFactory,
    bar,
)


class TestSqliteCandleStore(CandleStoreContract):
    """Hold `SqliteCandleStore` to the contract, on a file in a fresh directory."""

    @pytest.fixture
    def new_store(self, tmp_path: Path) -> CandleStoreFactory:
        """Return stores over one file two directories below the test's tmp dir."""
        return lambda: SqliteCandleStore(tmp_path / "data" / "x" / "candles.db")


def test_from_config_puts_the_file_in_the_data_dir(tmp_path: Path) -> None:
    store = SqliteCandleStore.from_config(StoreConfig(), data_dir=tmp_path)
    assert store.path == tmp_path / "candles.db"


@pytest.mark.anyio
async def test_the_file_is_wal_and_the_key_refuses_duplicates(tmp_path: Path) -> None:
    store = SqliteCandleStore(tmp_path / "candles.db")
    await store.open()
    try:
        await store.upsert(BTC, [bar(0), bar(1)])
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
                conn.execute(
                    "INSERT INTO candles VALUES ('kraken', 'BTC/USD', '1m', ?, '1', '1', '1',"
                    " '1', '1', 0)",
                    (bar(0).start_ns,),
                )
    finally:
        await store.close()
