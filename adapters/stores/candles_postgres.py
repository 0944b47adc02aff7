"""Keep candle history in PostgreSQL, in the journal's schema: the candle store for servers.

Prices and sizes are `numeric`, which keeps the digits and the scale a `Decimal` had
(`73324.40000` stays `73324.40000`). A page of candles goes in as one statement over arrays
(`INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE`): one round trip per page, and the
backfill mark moves in the same transaction.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from adapters.stores.candles import READ_BATCH, BackfillMark, Series, SeriesInfo, bar_of
from adapters.stores.postgres import quote_ident, redact_dsn
from agents.data.messages import Bar
from runtime import StoreBrokenError, StoreClosedError
from runtime.config import StoreConfig

if TYPE_CHECKING:
    from adapters.stores.candles import CandleStore

_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};

CREATE TABLE IF NOT EXISTS {s}.candles (
    exchange  text COLLATE "C" NOT NULL,
    symbol    text COLLATE "C" NOT NULL,
    timeframe text COLLATE "C" NOT NULL,
    ts        bigint NOT NULL,
    open      numeric NOT NULL,
    high      numeric NOT NULL,
    low       numeric NOT NULL,
    close     numeric NOT NULL,
    volume    numeric NOT NULL,
    trades    bigint NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, ts)
);

CREATE TABLE IF NOT EXISTS {s}.candle_backfills (
    exchange   text COLLATE "C" NOT NULL,
    symbol     text COLLATE "C" NOT NULL,
    timeframe  text COLLATE "C" NOT NULL,
    start_ns   bigint NOT NULL,
    next_ns    bigint NOT NULL,
    updated_ns bigint NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, start_ns)
);
"""
_KEY = "exchange = $1 AND symbol = $2 AND timeframe = $3"
_MIN_NS, _MAX_NS = -(2**63), 2**63 - 1


class PostgresCandleStore:
    """Store candles in one schema of a PostgreSQL database, through an asyncpg pool."""

    name = "postgres"

    @classmethod
    def from_config(cls, cfg: StoreConfig, /, *, data_dir: Path) -> PostgresCandleStore:
        """Build the store for `[store]`: the journal's DSN and schema."""
        return cls(cfg.dsn, schema=cfg.schema)

    def __init__(self, dsn: str, /, *, schema: str = "kinetic", max_size: int = 2) -> None:
        self._dsn = dsn
        self._schema = schema
        self._max_size = max_size
        self._where = f"postgres candle store at `{redact_dsn(dsn)}` schema `{schema}`"
        self._pool: Any = None
        s = quote_ident(schema)
        self._ddl = _SCHEMA.format(s=s)
        self._upsert = (
            f"INSERT INTO {s}.candles (exchange, symbol, timeframe, ts, open, high, low, close,"
            " volume, trades) SELECT $1, $2, $3, * FROM unnest($4::bigint[], $5::numeric[],"
            " $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[], $10::bigint[])"
            " ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET open = excluded.open,"
            " high = excluded.high, low = excluded.low, close = excluded.close,"
            " volume = excluded.volume, trades = excluded.trades"
        )
        self._mark = (
            f"INSERT INTO {s}.candle_backfills AS b (exchange, symbol, timeframe, start_ns,"
            " next_ns, updated_ns) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (exchange, symbol, timeframe, start_ns) DO UPDATE"
            " SET next_ns = greatest(b.next_ns, excluded.next_ns), updated_ns = excluded.updated_ns"
        )
        self._next = f"SELECT next_ns FROM {s}.candle_backfills WHERE {_KEY} AND start_ns = $4"
        self._series = (
            f"SELECT exchange, symbol, timeframe, count(*), min(ts), max(ts) FROM {s}.candles"
            " GROUP BY exchange, symbol, timeframe ORDER BY exchange, symbol, timeframe"
        )
        self._times = (
            f"SELECT ts FROM {s}.candles WHERE {_KEY} AND ts >= $4 AND ts < $5 ORDER BY ts LIMIT $6"
        )
        self._rows = (
            f"SELECT ts, open, high, low, close, volume, trades FROM {s}.candles"
            f" WHERE {_KEY} AND ts >= $4 AND ts < $5 ORDER BY ts LIMIT $6"
        )

    @property
    def schema(self) -> str:
        """Return the schema that holds the tables."""
        return self._schema

    async def open(self) -> None:
        """Connect the pool and create the tables when missing; idempotent."""
        if self._pool is not None:
            return
        with self._failing("connect"):
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._max_size,
                server_settings={"application_name": "kinetic-candles"},
            )
        try:
            with self._failing("create the schema"):
                async with pool.acquire() as conn, conn.transaction():
                    # Serialise schema creation: concurrent CREATE ... IF NOT EXISTS can collide.
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1))", f"kinetic:{self._schema}"
                    )
                    await conn.execute(self._ddl)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        """Close the pool once the calls in flight are done; idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            with self._failing("close"):
                await pool.close()

    async def upsert(
        self, series: Series, bars: Sequence[Bar], /, *, backfill: BackfillMark | None = None
    ) -> None:
        """Insert or replace `bars`, and move the backfill mark, in one transaction."""
        pool = self._require_pool()
        key = (series.exchange, series.symbol, series.timeframe)
        columns = (
            [b.start_ns for b in bars],
            [b.open for b in bars],
            [b.high for b in bars],
            [b.low for b in bars],
            [b.close for b in bars],
            [b.volume for b in bars],
            [b.trades for b in bars],
        )
        with self._failing(f"upsert {len(bars)} candles of {series.label}"):
            async with pool.acquire() as conn, conn.transaction():
                if bars:
                    await conn.execute(self._upsert, *key, *columns)
                if backfill is not None:
                    await conn.execute(
                        self._mark, *key, backfill.start_ns, backfill.next_ns, time.time_ns()
                    )

    async def backfill_next(self, series: Series, start_ns: int, /) -> int | None:
        """Return where the backfill of `series` from `start_ns` continues, or None."""
        pool = self._require_pool()
        with self._failing(f"read the backfill mark of {series.label}"):
            value = await pool.fetchval(
                self._next, series.exchange, series.symbol, series.timeframe, start_ns
            )
        return None if value is None else int(value)

    async def series(self) -> list[SeriesInfo]:
        """Return every stored series with its count and first and last open times."""
        pool = self._require_pool()
        with self._failing("list series"):
            records = await pool.fetch(self._series)
        return [
            SeriesInfo(
                series=Series(exchange=e, symbol=s, timeframe=t), candles=n, first_ns=a, last_ns=b
            )
            for e, s, t, n, a, b in records
        ]

    async def open_times(
        self,
        series: Series,
        /,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch: int = READ_BATCH,
    ) -> AsyncIterator[list[int]]:
        """Yield the open times of `series` in `[start_ns, end_ns)` in keyset-paged batches."""
        async for page in self._pages(series, self._times, start_ns, end_ns, batch):
            yield [record[0] for record in page]

    async def read(
        self,
        series: Series,
        /,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch: int = READ_BATCH,
    ) -> AsyncIterator[list[Bar]]:
        """Yield the candles of `series` opening in `[start_ns, end_ns)`, in batches."""
        tf = series.timeframe_ns
        async for page in self._pages(series, self._rows, start_ns, end_ns, batch):
            yield [bar_of(series, tf, tuple(record)) for record in page]

    async def _pages(
        self, series: Series, sql: str, start_ns: int | None, end_ns: int | None, batch: int
    ) -> AsyncIterator[list[Any]]:
        pool = self._require_pool()
        low = _MIN_NS if start_ns is None else start_ns
        high = _MAX_NS if end_ns is None else end_ns
        key = (series.exchange, series.symbol, series.timeframe)
        while True:
            with self._failing(f"read {series.label}"):
                page = await pool.fetch(sql, *key, low, high, batch)
            if page:
                yield page
            if len(page) < batch:
                return
            low = page[-1][0] + 1

    def _require_pool(self) -> Any:
        if self._pool is None:
            raise StoreClosedError(f"{self._where} is not open")
        return self._pool

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """Turn what asyncpg and the network raise into `StoreBrokenError`, chained."""
        try:
            yield
        except _FAILURES as exc:
            raise StoreBrokenError(f"{self._where} failed to {what}: {exc}") from exc


if TYPE_CHECKING:
    _CONFORMS: type[CandleStore] = PostgresCandleStore
