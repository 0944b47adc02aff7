"""Measure how many journal rows per second each store makes durable, against its raw driver.

The journal must not be the bottleneck of the bus (group commit, DESIGN §3), so the stores have
a throughput goal. Each figure is sustained append throughput with durability on (SQLite
`synchronous=FULL`, PostgreSQL `synchronous_commit` as the server sets it, on by default) for
realistic rows (~120-byte payloads, 32-byte hashes, a quarter with a correlation id) in batches
of 10,000. Its baseline is the naive way with the same driver, measured in the same run on the
same schema and rows, batch for batch interleaved so that a noisy machine skews both alike:
`executemany` in one transaction per batch. The ratio says what the store's write path is worth.

Only the write calls are timed; building the rows is not. SQLite writes under
`KINETIC_BENCH_DIR` (default: the system temp dir; on tmpfs fsync costs nothing and the figure
flatters). PostgreSQL runs at `KINETIC_BENCH_PG_DSN`, else `KINETIC_TEST_PG_DSN`, else the
local server, in throwaway schemas.
"""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import asyncpg

from adapters.stores.postgres import PostgresStore, quote_ident, redact_dsn
from adapters.stores.sqlite import SqliteStore
from bench._measure import Figure, figure
from runtime._errors import StoreBrokenError
from runtime._journal import JournalRow, RunInfo

GOAL_EVENTS_PER_SEC = 200_000
BATCH = 10_000
QUICK_ROWS = 100_000
FULL_ROWS = 1_000_000

_COLUMNS = "run_id, seq, ts, kind, type, src, corr, prev, hash, data"
_INSERT = f"INSERT INTO journal ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_PG_INSERT = (
    "INSERT INTO {s}.journal (" + _COLUMNS + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)

_TYPES = (
    "data.Tick",
    "data.Tick",
    "data.Tick",
    "ml.Quote",
    "risk.OrderApproved",
    "exec.SubmitOrder",
    "exec.OrderFilled",
    "ledger.Posted",
)
_SOURCES = ("feed.binance", "bars", "quoter", "risk", "execution", "ledger")
_rng = random.Random(7)
_HASHES = [_rng.randbytes(32) for _ in range(1024)]
_DATA = [_rng.randbytes(_rng.randint(100, 140)) for _ in range(1024)]

Timed = Callable[[list[JournalRow]], Awaitable[None]]


def run(quick: bool) -> list[Figure]:
    """Run the store benchmarks; return one figure per store: events/s against its baseline."""
    total = QUICK_ROWS if quick else FULL_ROWS
    return [
        anyio.run(_sqlite_figure, total, backend="asyncio"),
        anyio.run(_postgres_figure, total, backend="asyncio"),
    ]


def journal_rows(start: int, count: int, /) -> list[JournalRow]:
    """Return `count` rows from seq `start` that look like a live run's journal."""
    return [
        JournalRow(
            seq,
            1_700_000_000_000_000_000 + seq * 250_000,
            "in" if seq % 10 == 0 else "out",
            _TYPES[seq % len(_TYPES)],
            _SOURCES[seq % len(_SOURCES)],
            f"sig-{seq // 16}" if seq % 4 == 0 else "",
            None,
            _HASHES[seq % 1024],
            _DATA[(seq * 7) % 1024],
        )
        for seq in range(start, start + count)
    ]


def _run_info(run_id: str) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        kernel="sim",
        mode="backtest",
        level="full",
        seed=7,
        config="{}",
        created_ns=time.time_ns(),
    )


async def _race(total: int, store: Timed, baseline: Timed) -> tuple[float, float]:
    """Feed both writers the same batches, alternately; return their events/s."""
    spent = [0.0, 0.0]
    for start in range(1, total + 1, BATCH):
        for i, write in enumerate((store, baseline)):
            rows = journal_rows(start, min(BATCH, total + 1 - start))
            began = time.perf_counter()
            await write(rows)
            spent[i] += time.perf_counter() - began
    return total / spent[0], total / spent[1]


async def _sqlite_figure(total: int) -> Figure:
    with tempfile.TemporaryDirectory(
        prefix="kinetic-bench-", dir=os.environ.get("KINETIC_BENCH_DIR")
    ) as tmp:
        store = SqliteStore(Path(tmp) / "store.db", fsync=True)
        # The baseline's file gets the same schema from a store, then only sees raw sqlite3.
        raw_path = Path(tmp) / "raw.db"
        schema_only = SqliteStore(raw_path)
        await schema_only.open()
        await schema_only.close()
        raw = sqlite3.connect(raw_path, isolation_level=None, check_same_thread=False)
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = FULL")
        await store.open()
        try:
            await store.create_run(_run_info("bench"))

            def executemany(rows: list[JournalRow]) -> None:
                raw.execute("BEGIN IMMEDIATE")
                raw.executemany(
                    _INSERT,
                    [
                        (
                            "bench",
                            r.seq,
                            r.ts,
                            r.kind,
                            r.type,
                            r.src,
                            r.corr or None,
                            r.prev,
                            r.hash,
                            r.data,
                        )
                        for r in rows
                    ],
                )
                raw.execute("COMMIT")

            async def baseline(rows: list[JournalRow]) -> None:
                await anyio.to_thread.run_sync(executemany, rows)

            value, base = await _race(total, lambda rows: store.append("bench", rows), baseline)
        finally:
            await store.close()
            raw.close()
    return _figure(
        "stores.sqlite.append",
        value,
        base,
        note=f"{total:,} rows, fsync on (WAL, synchronous=FULL); baseline: sqlite3 executemany",
    )


async def _postgres_figure(total: int) -> Figure:
    dsn = os.environ.get(
        "KINETIC_BENCH_PG_DSN",
        os.environ.get("KINETIC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    tag = uuid.uuid4().hex[:8]
    store = PostgresStore(dsn, schema=f"kinetic_bench_{tag}")
    schema_only = PostgresStore(dsn, schema=f"kinetic_bench_raw_{tag}")
    try:
        await store.open()
        await schema_only.open()
        await schema_only.close()
    except StoreBrokenError as exc:
        await store.close()
        return _figure("stores.postgres.append", 0.0, None, note=f"not measured: {exc}")
    conn = await asyncpg.connect(dsn)
    try:
        await store.create_run(_run_info("bench"))
        insert = _PG_INSERT.format(s=quote_ident(schema_only.schema))

        async def baseline(rows: list[JournalRow]) -> None:
            async with conn.transaction():
                await conn.executemany(
                    insert,
                    [
                        (
                            "bench",
                            r.seq,
                            r.ts,
                            r.kind,
                            r.type,
                            r.src,
                            r.corr or None,
                            r.prev,
                            r.hash,
                            r.data,
                        )
                        for r in rows
                    ],
                )

        value, base = await _race(total, lambda rows: store.append("bench", rows), baseline)
    finally:
        await store.close()
        for schema in (store.schema, schema_only.schema):
            await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
        await conn.close()
    return _figure(
        "stores.postgres.append",
        value,
        base,
        note=f"{total:,} rows at `{redact_dsn(dsn)}`, COPY; baseline: asyncpg executemany",
    )


def _figure(name: str, value: float, baseline: float | None, *, note: str) -> Figure:
    return figure(
        name,
        value,
        "events/s",
        baseline=baseline,
        goal=GOAL_EVENTS_PER_SEC,
        goal_on="value",
        better="higher",
        note=note,
    )
