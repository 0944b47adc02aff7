"""Keep candle history in one SQLite file next to the journal: the embedded candle store.

The file is its own (`DATA_DIR/candles.db` by default), not the journal's: a backfill may run
while the daemon journals, and neither waits on the other's write lock. WAL mode lets a reader
(`kinetic data gaps`) run while a backfill writes. Prices and sizes are stored as `TEXT`
(`str(Decimal)`), which gives back the same `Decimal`, exponent included.

As in the journal store, one connection is used by one worker thread at a time (a
`CapacityLimiter(1)`), so calls run in arrival order and never block the event loop.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread

from adapters.stores.candles import READ_BATCH, BackfillMark, Series, SeriesInfo, bar_of
from agents.data.messages import Bar
from runtime import StoreBrokenError, StoreClosedError
from runtime.config import StoreConfig

if TYPE_CHECKING:
    from adapters.stores.candles import CandleStore

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

FILE = "candles.db"
"""The file under the data dir."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candles (
    exchange  TEXT NOT NULL,
    symbol    TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    ts        INTEGER NOT NULL,  -- open time, ns since the epoch
    open      TEXT NOT NULL,
    high      TEXT NOT NULL,
    low       TEXT NOT NULL,
    close     TEXT NOT NULL,
    volume    TEXT NOT NULL,
    trades    INTEGER NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, ts)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS candle_backfills (
    exchange   TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    timeframe  TEXT NOT NULL,
    start_ns   INTEGER NOT NULL,
    next_ns    INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, start_ns)
) STRICT;
"""

_KEY = "exchange = ? AND symbol = ? AND timeframe = ?"
_UPSERT = (
    "INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, trades)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE"
    " SET open = excluded.open, high = excluded.high, low = excluded.low,"
    " close = excluded.close, volume = excluded.volume, trades = excluded.trades"
)
_MARK = (
    "INSERT INTO candle_backfills (exchange, symbol, timeframe, start_ns, next_ns, updated_ns)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (exchange, symbol, timeframe, start_ns) DO UPDATE"
    " SET next_ns = max(next_ns, excluded.next_ns), updated_ns = excluded.updated_ns"
)
_NEXT = f"SELECT next_ns FROM candle_backfills WHERE {_KEY} AND start_ns = ?"
_SERIES = (
    "SELECT exchange, symbol, timeframe, count(*), min(ts), max(ts) FROM candles"
    " GROUP BY exchange, symbol, timeframe ORDER BY exchange, symbol, timeframe"
)
_TIMES = f"SELECT ts FROM candles WHERE {_KEY} AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?"
_ROWS = (
    "SELECT ts, open, high, low, close, volume, trades FROM candles"
    f" WHERE {_KEY} AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?"
)
_MIN_NS, _MAX_NS = -(2**63), 2**63 - 1


class SqliteCandleStore:
    """Store candles in one SQLite file, created with its parent directories on `open`."""

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str], /, *, fsync: bool = True) -> None:
        self._path = Path(path)
        self._fsync = fsync
        self._conn: sqlite3.Connection | None = None
        # Invariant: at most one thread uses `_conn` at a time; every use goes through here.
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    def from_config(cls, cfg: StoreConfig, /, *, data_dir: Path) -> SqliteCandleStore:
        """Build the store for `[store]`: `DATA_DIR/candles.db`, with the journal's fsync."""
        return cls(data_dir / FILE, fsync=cfg.fsync)

    @property
    def path(self) -> Path:
        """Return the database file."""
        return self._path

    async def open(self) -> None:
        """Open the file in WAL mode and create the schema when missing; idempotent."""
        if self._conn is None:
            with self._failing("open"):
                self._conn = await anyio.to_thread.run_sync(self._connect, limiter=self._limiter)

    async def close(self) -> None:
        """Close the connection once the calls in flight are done; idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with anyio.CancelScope(shield=True), self._failing("close"):
                await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    async def upsert(
        self, series: Series, bars: Sequence[Bar], /, *, backfill: BackfillMark | None = None
    ) -> None:
        """Insert or replace `bars`, and move the backfill mark, in one transaction."""
        key = (series.exchange, series.symbol, series.timeframe)
        rows = [
            (
                *key,
                b.start_ns,
                str(b.open),
                str(b.high),
                str(b.low),
                str(b.close),
                str(b.volume),
                b.trades,
            )
            for b in bars
        ]
        mark = (
            None
            if backfill is None
            else (*key, backfill.start_ns, backfill.next_ns, time.time_ns())
        )
        if rows or mark:
            await self._run(f"upsert {len(rows)} candles of {series.label}", _upsert, rows, mark)

    async def backfill_next(self, series: Series, start_ns: int, /) -> int | None:
        """Return where the backfill of `series` from `start_ns` continues, or None."""
        params = (series.exchange, series.symbol, series.timeframe, start_ns)
        rows = await self._run(f"read the backfill mark of {series.label}", _fetch, _NEXT, params)
        return int(rows[0][0]) if rows else None

    async def series(self) -> list[SeriesInfo]:
        """Return every stored series with its count and first and last open times."""
        rows = await self._run("list series", _fetch, _SERIES, ())
        return [
            SeriesInfo(
                series=Series(exchange=e, symbol=s, timeframe=t), candles=n, first_ns=a, last_ns=b
            )
            for e, s, t, n, a, b in rows
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
        async for page in self._pages(series, _TIMES, start_ns, end_ns, batch):
            yield [row[0] for row in page]

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
        async for page in self._pages(series, _ROWS, start_ns, end_ns, batch):
            yield [bar_of(series, tf, row) for row in page]

    async def _pages(
        self, series: Series, sql: str, start_ns: int | None, end_ns: int | None, batch: int
    ) -> AsyncIterator[list[Any]]:
        low = _MIN_NS if start_ns is None else start_ns
        high = _MAX_NS if end_ns is None else end_ns
        key = (series.exchange, series.symbol, series.timeframe)
        while True:
            page = await self._run(f"read {series.label}", _fetch, sql, (*key, low, high, batch))
            if page:
                yield page
            if len(page) < batch:
                return
            low = page[-1][0] + 1

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): the store writes its own BEGIN and COMMIT.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {'FULL' if self._fsync else 'NORMAL'}")
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(
        self, what: str, fn: Callable[[sqlite3.Connection, *_Ts], _T], *args: *_Ts
    ) -> _T:
        conn = self._conn
        if conn is None:
            raise StoreClosedError(f"sqlite candle store at `{self._path}` is not open")
        with self._failing(what):
            return await anyio.to_thread.run_sync(lambda: fn(conn, *args), limiter=self._limiter)

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """Turn what sqlite3 and the file system raise into `StoreBrokenError`, chained."""
        try:
            yield
        except (sqlite3.Error, OSError, OverflowError) as exc:
            raise StoreBrokenError(
                f"sqlite candle store at `{self._path}` failed to {what}: {exc}"
            ) from exc


def _fetch(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _upsert(
    conn: sqlite3.Connection, rows: list[tuple[Any, ...]], mark: tuple[Any, ...] | None
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_UPSERT, rows)
        if mark is not None:
            conn.execute(_MARK, mark)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


if TYPE_CHECKING:
    _CONFORMS: type[CandleStore] = SqliteCandleStore
