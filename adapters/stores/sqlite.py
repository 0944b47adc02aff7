"""Persist runs, journal rows and snapshots in one SQLite file: the embedded default store.

SQLite ships with Python and needs no server, so a daemon on a laptop runs with nothing else
installed. The file is in WAL mode, so a reader in another process (`kinetic journal verify`)
never blocks the writer. With `fsync` on, a batch is on disk when `append` returns
(`synchronous=FULL`: the WAL is synced at every commit); with it off (`NORMAL`), a power loss may
lose the last batches but never corrupts the file.

A sqlite3 connection must not be used by two threads at once, and a blocking call must not stall
the event loop. The store owns one connection and runs every call in a worker thread behind a
`CapacityLimiter(1)`: calls run one at a time, in arrival order, and the loop keeps going while
SQLite writes (sqlite3 releases the GIL while it steps a statement).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread

from runtime._errors import StoreBrokenError, StoreClosedError
from runtime._journal import JournalRow, RunInfo, Snapshot, check_query
from runtime.config import StoreConfig

if TYPE_CHECKING:
    from runtime._journal import Store

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

_MIN_SQLITE = (3, 37, 0)
"""STRICT tables need SQLite 3.37 (2021); every supported Python bundles a newer one."""

_PAGE_SIZE = 16384
"""Fit several ~300-byte journal rows per page of the WITHOUT ROWID table; fixed at creation."""

_PRAGMAS = (
    # Refuse INSERT OR REPLACE on append-only tables: REPLACE deletes the old row, and its DELETE
    # trigger fires only with recursive triggers on.
    "PRAGMA recursive_triggers = ON",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA cache_size = -65536",
    "PRAGMA mmap_size = 268435456",
    "PRAGMA temp_store = MEMORY",
    # Checkpoint less often than every 1000 pages: each checkpoint syncs the database file.
    "PRAGMA wal_autocheckpoint = 4096",
    "PRAGMA journal_size_limit = 134217728",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id     TEXT PRIMARY KEY,
    kernel     TEXT NOT NULL,
    mode       TEXT NOT NULL,
    level      TEXT NOT NULL,
    seed       INTEGER NOT NULL,
    config     TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'closed'))
) STRICT;

CREATE TABLE IF NOT EXISTS journal (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    ts     INTEGER NOT NULL,
    kind   TEXT NOT NULL CHECK (kind IN ('in', 'out', 'ck')),
    type   TEXT NOT NULL,
    src    TEXT NOT NULL,
    corr   TEXT,
    prev   BLOB,
    hash   BLOB NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS journal_by_type ON journal (run_id, type, seq);
CREATE INDEX IF NOT EXISTS journal_by_corr ON journal (run_id, corr, seq) WHERE corr IS NOT NULL;
CREATE INDEX IF NOT EXISTS journal_by_operator ON journal (run_id, seq) WHERE src GLOB 'operator:*';

CREATE TABLE IF NOT EXISTS snapshots (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    head   BLOB NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT;
"""

_RUN_COLUMNS = "run_id, kernel, mode, level, seed, config, created_ns, status"
# A row without correlation stores `corr` as NULL, so the corr index skips it (market data, the
# bulk of a journal) and still serves `corr = ?`, which implies `corr IS NOT NULL`.
_ROW_COLUMNS = "seq, ts, kind, type, src, corr, prev, hash, data"
_ROW_SELECT = "seq, ts, kind, type, src, coalesce(corr, ''), prev, hash, data"

_INSERT_RUN = f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT_RUN = f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?"
_SELECT_RUNS = f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created_ns, run_id"
_UPDATE_STATUS = "UPDATE runs SET status = ? WHERE run_id = ?"
_CHUNK = 256
"""Rows per INSERT statement: one statement per row spends more time opening the table and its
indexes than inserting; 256 rows per statement doubles throughput (2,305 parameters each)."""
_WIDTH = len(JournalRow._fields)
_PREV, _HASH, _DATA = (JournalRow._fields.index(f) for f in ("prev", "hash", "data"))
# `?1` is the run id, bound once per statement; every later `?` takes the next number. `append`
# binds `prev` as 0 for None (see `_bindable`), which `nullif` turns back into NULL; a blob never
# equals an integer.
_ROW_VALUES = "(?1, ?, ?, ?, ?, ?, nullif(?, ''), nullif(?, 0), ?, ?)"
_INSERT_ROWS = f"INSERT INTO journal (run_id, {_ROW_COLUMNS}) VALUES " + ", ".join(
    [_ROW_VALUES] * _CHUNK
)
_INSERT_ROW = f"INSERT INTO journal (run_id, {_ROW_COLUMNS}) VALUES {_ROW_VALUES}"
_SELECT_PAGE = (
    f"SELECT {_ROW_SELECT} FROM journal WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)
_SELECT_LAST = f"SELECT {_ROW_SELECT} FROM journal WHERE run_id = ? ORDER BY seq DESC LIMIT 1"
# `query` serves a src prefix under `operator:` from the partial index `journal_by_operator`:
# operator rows are rare, so it costs appends next to nothing. SQLite uses a partial index only
# when the query repeats the index's WHERE term verbatim, hence the literal term.
_OPERATOR_PREFIX = "operator:"
_OPERATOR_TERM = "src GLOB 'operator:*'"
_UNION_TYPES = 64
"""The most types `query` reads as a UNION ALL of one index range each; more go in one `IN`."""
_INSERT_SNAPSHOT = (
    "INSERT INTO snapshots (run_id, seq, head, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (run_id, seq) DO NOTHING"
)
_SELECT_SNAPSHOT = "SELECT head, data FROM snapshots WHERE run_id = ? AND seq = ?"
_SELECT_LATEST_SNAPSHOT = (
    "SELECT seq, head, data FROM snapshots WHERE run_id = ? ORDER BY seq DESC LIMIT 1"
)


def append_only_ddl(table: str, /) -> str:
    """Return the triggers that make `table` refuse every UPDATE and DELETE.

    SQLite has no TRUNCATE; `DELETE FROM table` fires the triggers too, because a table with
    DELETE triggers never takes the truncate shortcut.
    """
    if not table.isidentifier():
        raise ValueError(f"`table` must be an identifier, got {table!r}")
    return "".join(
        f"CREATE TRIGGER IF NOT EXISTS {table}_refuse_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;\n"
        for op in ("UPDATE", "DELETE")
    )


class SqliteStore:
    """Store runs in one SQLite file, created with its parent directories on `open`.

    `fsync` trades durability for speed: on, a batch survives a power loss once `append`
    returns; off, it survives a crash of the process only. Every method is a cancellation point;
    a call that reached SQLite finishes (commits or rolls back) before the cancellation lands.
    """

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str], /, *, fsync: bool = True) -> None:
        self._path = Path(path)
        self._fsync = fsync
        self._conn: sqlite3.Connection | None = None
        # Invariant: at most one thread uses `_conn` at a time; every use goes through here.
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    def from_config(cls, cfg: StoreConfig, /, *, data_dir: Path) -> SqliteStore:
        """Build the store `[store]` describes; a relative `path` lives in the data dir."""
        path = Path(cfg.path)
        return cls(path if path.is_absolute() else data_dir / path, fsync=cfg.fsync)

    @property
    def path(self) -> Path:
        """Return the database file."""
        return self._path

    async def open(self) -> None:
        """Open the file, set it to WAL and create the schema when missing; idempotent."""
        if self._conn is None:
            with self._failing("open"):
                self._conn = await anyio.to_thread.run_sync(self._connect, limiter=self._limiter)

    async def close(self) -> None:
        """Close the connection once the calls in flight are done; idempotent."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with anyio.CancelScope(shield=True), self._failing("close"):
            await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    async def create_run(self, run: RunInfo, /) -> None:
        """Record a new run; a `run_id` already stored raises `StoreBrokenError`."""
        values = (
            run.run_id,
            run.kernel,
            run.mode,
            run.level,
            run.seed,
            run.config,
            run.created_ns,
            run.status,
        )
        await self._run(f"create run `{run.run_id}`", _execute, _INSERT_RUN, values)

    async def get_run(self, run_id: str, /) -> RunInfo | None:
        """Return the run, or None when it is not stored."""
        rows = await self._run(f"get run `{run_id}`", _fetch, _SELECT_RUN, (run_id,))
        return _run_info(rows[0]) if rows else None

    async def list_runs(self) -> list[RunInfo]:
        """Return every run, oldest first (by `created_ns`, then `run_id`)."""
        rows = await self._run("list runs", _fetch, _SELECT_RUNS, ())
        return [_run_info(row) for row in rows]

    async def set_run_status(self, run_id: str, status: Literal["open", "closed"], /) -> None:
        """Set the status of a stored run: the one change the store allows on a run."""
        changed = await self._run(
            f"set the status of run `{run_id}`", _execute, _UPDATE_STATUS, (status, run_id)
        )
        if not changed:
            raise StoreBrokenError(f"sqlite store at `{self._path}` has no run `{run_id}`")

    async def append(self, run_id: str, rows: Sequence[JournalRow], /) -> None:
        """Store `rows` in one transaction; they are durable when this returns.

        A seq already stored for the run raises `StoreBrokenError` and stores none of the batch.
        """
        if rows:
            what = f"append seq {rows[0].seq}..{rows[-1].seq} of run `{run_id}`"
            await self._run(what, _append, run_id, rows)

    async def read(
        self, run_id: str, /, *, after_seq: int = 0, batch: int = 10_000
    ) -> AsyncIterator[list[JournalRow]]:
        """Yield the rows of `run_id` after `after_seq` in seq order, at most `batch` at a time.

        Each batch is one keyset query (`seq > last`): no transaction or cursor stays open
        between batches, so a slow consumer never holds up `append`.
        """
        if batch < 1:
            raise ValueError(f"`batch` must be >= 1, got {batch}")
        last = after_seq
        while True:
            page = await self._run(
                f"read run `{run_id}` after seq {last}", _read_page, run_id, last, batch
            )
            if page:
                yield page
            if len(page) < batch:
                return
            last = page[-1].seq

    async def last_row(self, run_id: str, /) -> JournalRow | None:
        """Return the row with the highest seq of `run_id`, or None when it has none."""
        what = f"read the last row of run `{run_id}`"
        rows = await self._run(what, _fetch, _SELECT_LAST, (run_id,))
        return JournalRow._make(rows[0]) if rows else None

    async def query(
        self,
        run_id: str,
        /,
        *,
        types: Sequence[str] = (),
        corr: str | None = None,
        src_prefix: str | None = None,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[JournalRow]:
        """Return one page of the rows of `run_id` that match every filter (see `Store.query`).

        One statement: a type filter reads `journal_by_type`, a corr filter `journal_by_corr`,
        an `operator:` src prefix `journal_by_operator`, anything else the primary key.
        """
        sql, params = _query_sql(
            run_id,
            check_query(types, limit),
            corr=corr,
            src_prefix=src_prefix,
            after_seq=after_seq,
            before_seq=before_seq,
            limit=limit,
            newest_first=newest_first,
        )
        return await self._run(f"query run `{run_id}`", _query, sql, params)

    async def save_snapshot(self, snapshot: Snapshot, /) -> None:
        """Store `snapshot`; saving the same one again is a no-op.

        A different snapshot at a seq already stored raises `StoreBrokenError`: state at one
        seq is deterministic, so two versions of it mean a bug, not an update.
        """
        what = f"save the snapshot of run `{snapshot.run_id}` at seq {snapshot.seq}"
        if not await self._run(what, _save_snapshot, snapshot):
            raise StoreBrokenError(
                f"sqlite store at `{self._path}` refused the snapshot of run "
                f"`{snapshot.run_id}` at seq {snapshot.seq}: another one is stored there"
            )

    async def latest_snapshot(self, run_id: str, /) -> Snapshot | None:
        """Return the snapshot with the highest seq of `run_id`, or None when it has none."""
        what = f"read the latest snapshot of run `{run_id}`"
        rows = await self._run(what, _fetch, _SELECT_LATEST_SNAPSHOT, (run_id,))
        if not rows:
            return None
        seq, head, data = rows[0]
        return Snapshot(run_id=run_id, seq=seq, head=head, data=data)

    async def _execute_raw(self, sql: str, /) -> None:
        """Run one SQL statement on the store's connection, outside the store's API.

        A test hook: the contract suite proves with it that the triggers refuse UPDATE and
        DELETE. Never call it from product code.
        """
        await self._run("execute raw sql", _execute, sql, ())

    def _connect(self) -> sqlite3.Connection:
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise StoreBrokenError(
                f"sqlite store at `{self._path}` needs SQLite >= 3.37, got {sqlite3.sqlite_version}"
            )
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): the store writes its own BEGIN and COMMIT.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # no effect on an existing file
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode != "wal":
                raise StoreBrokenError(
                    f"sqlite store at `{self._path}` cannot use WAL mode, got `{mode}`"
                )
            sync = "FULL" if self._fsync else "NORMAL"
            conn.execute(f"PRAGMA synchronous = {sync}")
            # F_FULLFSYNC on macOS, where fsync alone does not reach the platter; no-op elsewhere.
            conn.execute(f"PRAGMA fullfsync = {int(self._fsync)}")
            conn.execute(f"PRAGMA checkpoint_fullfsync = {int(self._fsync)}")
            for pragma in _PRAGMAS:
                conn.execute(pragma)
            ddl = _SCHEMA + append_only_ddl("journal") + append_only_ddl("snapshots")
            conn.executescript(f"BEGIN IMMEDIATE;\n{ddl}COMMIT;")
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(
        self,
        what: str,
        fn: Callable[[sqlite3.Connection, *_Ts], _T],
        *args: *_Ts,
    ) -> _T:
        """Run `fn(connection, *args)` in the worker thread; name the failure after `what`."""
        conn = self._conn
        if conn is None:
            raise StoreClosedError(f"sqlite store at `{self._path}` is not open")
        with self._failing(what):
            return await anyio.to_thread.run_sync(fn, conn, *args, limiter=self._limiter)

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """Turn what sqlite3 and the file system raise into `StoreBrokenError`, chained."""
        try:
            yield
        # OverflowError: an int beyond 64 bits, which asyncpg reports as a DataError.
        except (sqlite3.Error, OSError, OverflowError) as exc:
            raise StoreBrokenError(
                f"sqlite store at `{self._path}` failed to {what}: {exc}"
            ) from exc


# Worker-thread side: each function takes the connection first and runs under the limiter.


def _execute(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> int:
    return conn.execute(sql, params).rowcount


def _fetch(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _append(conn: sqlite3.Connection, run_id: str, rows: Sequence[JournalRow]) -> None:
    values = _bindable(rows)
    step = _CHUNK * _WIDTH
    whole = len(rows) // _CHUNK * step
    conn.execute("BEGIN IMMEDIATE")
    try:
        if whole:
            conn.executemany(
                _INSERT_ROWS, [(run_id, *values[i : i + step]) for i in range(0, whole, step)]
            )
        if whole < len(values):
            conn.executemany(
                _INSERT_ROW,
                [(run_id, *values[i : i + _WIDTH]) for i in range(whole, len(values), _WIDTH)],
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _bindable(rows: Sequence[JournalRow]) -> list[Any]:
    """Return the fields of `rows`, row after row, as values sqlite3 binds the cheap way.

    sqlite3 binds an int, float, str or bytearray directly, but offers every other value (bytes,
    None) to its adapter registry first (on Python 3.11 that raises and clears an AttributeError
    per value): a row's `prev`, `hash` and `data` cost twice as much to bind as its seven other
    values. So the blobs go as bytearrays (stored as the same BLOBs) and a missing `prev` as 0,
    which `_ROW_VALUES` maps back to NULL. Whole columns at a time, by slice: no Python code runs
    per row but for the `prev`s of level `inputs`.
    """
    values: list[Any] = list(itertools.chain.from_iterable(rows))
    prevs = values[_PREV::_WIDTH]
    if prevs.count(None) == len(prevs):
        values[_PREV::_WIDTH] = [0] * len(prevs)
    else:
        values[_PREV::_WIDTH] = [0 if p is None else bytearray(p) for p in prevs]
    values[_HASH::_WIDTH] = map(bytearray, values[_HASH::_WIDTH])
    values[_DATA::_WIDTH] = map(bytearray, values[_DATA::_WIDTH])
    return values


def _read_page(
    conn: sqlite3.Connection, run_id: str, after_seq: int, limit: int
) -> list[JournalRow]:
    return list(map(JournalRow._make, conn.execute(_SELECT_PAGE, (run_id, after_seq, limit))))


def _query(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[JournalRow]:
    return list(map(JournalRow._make, conn.execute(sql, params)))


def _query_sql(
    run_id: str,
    types: tuple[str, ...],
    *,
    corr: str | None,
    src_prefix: str | None,
    after_seq: int,
    before_seq: int | None,
    limit: int,
    newest_first: bool,
) -> tuple[str, tuple[object, ...]]:
    """Return the statement of one `query` and its parameters.

    The text depends only on which filters are set (and how many types), so sqlite3's statement
    cache reuses it. Several types become a UNION ALL of one `journal_by_type` range each, every
    arm cut at `limit`: an `IN` would make SQLite walk the primary key over the whole run (or
    sort every row of the types) to find a few rows.
    """
    params: list[object] = []

    def bind(value: object) -> str:
        params.append(value)
        return f"?{len(params)}"

    where = [f"run_id = {bind(run_id)}", f"seq > {bind(after_seq)}", "kind <> 'ck'"]
    if before_seq is not None:
        where.append(f"seq < {bind(before_seq)}")
    if corr == "":
        where.append("corr IS NULL")  # stored so: see `_ROW_VALUES`
    elif corr is not None:
        where.append(f"corr = {bind(corr)}")
    if src_prefix:
        if src_prefix.startswith(_OPERATOR_PREFIX):
            where.append(_OPERATOR_TERM)
        # substr compares characters as they are: `%`, `_` and `*` in the prefix are literal.
        where.append(f"substr(src, 1, {bind(len(src_prefix))}) = {bind(src_prefix)}")
    order = "seq DESC" if newest_first else "seq"
    top = bind(limit)
    if len(types) == 1:
        where.append(f"type = {bind(types[0])}")
    elif len(types) > _UNION_TYPES:
        where.append(f"type IN ({', '.join(bind(t) for t in types)})")
    elif types:
        common = " AND ".join(where)
        arms = " UNION ALL ".join(
            f"SELECT * FROM (SELECT {_ROW_SELECT} FROM journal WHERE {common} "
            f"AND type = {bind(t)} ORDER BY {order} LIMIT {top})"
            for t in types
        )
        return f"{arms} ORDER BY {order} LIMIT {top}", tuple(params)
    where_sql = " AND ".join(where)
    sql = f"SELECT {_ROW_SELECT} FROM journal WHERE {where_sql} ORDER BY {order} LIMIT {top}"
    return sql, tuple(params)


def _save_snapshot(conn: sqlite3.Connection, snapshot: Snapshot) -> bool:
    key = (snapshot.run_id, snapshot.seq)
    if conn.execute(_INSERT_SNAPSHOT, (*key, snapshot.head, snapshot.data)).rowcount:
        return True
    stored = conn.execute(_SELECT_SNAPSHOT, key).fetchone()
    return bool(stored == (snapshot.head, snapshot.data))


def _run_info(row: Any) -> RunInfo:
    run_id, kernel, mode, level, seed, config, created_ns, status = row
    return RunInfo(
        run_id=run_id,
        kernel=kernel,
        mode=mode,
        level=level,
        seed=seed,
        config=config,
        created_ns=created_ns,
        status=status,
    )


if TYPE_CHECKING:
    _CONFORMS: type[Store] = SqliteStore
