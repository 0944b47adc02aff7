"""Persist runs, journal rows and snapshots in PostgreSQL: the store for servers.

A server store outlives the machine a daemon runs on, holds long retention, and lets the control
API and operators query runs with SQL while the daemon writes. It stores the same rows as the
SQLite store, so a run has the same hashes on either.

Batches go in with `COPY` (binary, through asyncpg): one round trip and no per-row statement,
several times faster than `executemany`. Every table lives in one schema (default `kinetic`),
so tests and side-by-side deployments each take their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import asyncpg

from runtime._errors import StoreBrokenError, StoreClosedError
from runtime._journal import JournalRow, RunInfo, Snapshot, check_query
from runtime.config import StoreConfig

if TYPE_CHECKING:
    from runtime._journal import Store

_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
"""What asyncpg raises when the server, the network or the connection fails under us."""

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};

CREATE TABLE IF NOT EXISTS {s}.runs (
    run_id     text COLLATE "C" PRIMARY KEY,
    kernel     text NOT NULL,
    mode       text NOT NULL,
    level      text NOT NULL,
    seed       bigint NOT NULL,
    config     text NOT NULL,
    created_ns bigint NOT NULL,
    status     text NOT NULL CHECK (status IN ('open', 'closed'))
);

CREATE TABLE IF NOT EXISTS {s}.journal (
    run_id text COLLATE "C" NOT NULL,
    seq    bigint NOT NULL,
    ts     bigint NOT NULL,
    kind   text NOT NULL CHECK (kind IN ('in', 'out', 'ck')),
    type   text COLLATE "C" NOT NULL,
    src    text NOT NULL,
    corr   text COLLATE "C",
    prev   bytea,
    hash   bytea NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS journal_by_type_key ON {s}.journal
    (hashtextextended(type, hashtext(run_id)), seq) WITH (deduplicate_items = off);
DROP INDEX IF EXISTS {s}.journal_by_type;
CREATE INDEX IF NOT EXISTS journal_by_corr ON {s}.journal (run_id, corr, seq)
    WHERE corr IS NOT NULL;
CREATE INDEX IF NOT EXISTS journal_by_operator ON {s}.journal (run_id, seq)
    WHERE starts_with(src, 'operator:');

CREATE TABLE IF NOT EXISTS {s}.snapshots (
    run_id text COLLATE "C" NOT NULL,
    seq    bigint NOT NULL,
    head   bytea NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""

# Key columns collate "C": byte order (as in SQLite) and memcmp speed whatever the locale.
# A row without correlation stores `corr` as NULL, so the corr index skips it (market data, the
# bulk of a journal) and still serves `corr = $1`, which implies `corr IS NOT NULL`.
_RUN_COLUMNS = "run_id, kernel, mode, level, seed, config, created_ns, status"
_ROW_COLUMNS = "seq, ts, kind, type, src, corr, prev, hash, data"
_ROW_SELECT = "seq, ts, kind, type, src, coalesce(corr, ''), prev, hash, data"
_COPY_COLUMNS = ("run_id", *_ROW_COLUMNS.split(", "))
# `journal_by_type_key` orders rows by a 64-bit hash of (run, type), then seq: two int8 to compare
# per key instead of two texts and an int8 behind them. In `bench stores` the text index
# (run_id, type, seq) cost the server as much per row as the heap and the primary key together,
# the hashed one half that or less. `query` names the same expression, so a type filter is one
# index range; it also compares run_id and type, so a hash collision costs a filtered row, never
# a wrong one. Every key is distinct (seq), hence no deduplication pass on a full page. Stores
# made with the text index `journal_by_type` get the new one on their next `open`.
# The planner judges the heap reads of an index scan by how the index's first column follows the
# heap order, and a hash does not, so it shuns the scan that stops after `limit` rows: given
# `run_id = $1` it walks the primary key and filters by type whenever it cannot see that the
# type is rare (several types, a generic plan), reading the whole run to find a rare one; or it
# collects every row of a common type by bitmap and sorts them to keep the first `limit`. So a
# type query spells its run term `(run_id = $1) IS TRUE`, the same test for a NOT NULL column,
# which no index can use, and runs with `_TYPE_SCAN`: the type index's ordered scan is then the
# one plan left.
_TYPE_KEY = "hashtextextended(type, hashtext(run_id))"
_TYPE_SCAN = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"
# `query` serves a src prefix under `operator:` from the partial index `journal_by_operator`:
# operator rows are rare, so it costs appends next to nothing. The planner uses a partial index
# only when it can prove the index's predicate from the query, hence the literal term (a
# parameter would not prove it in a generic plan).
_OPERATOR_PREFIX = "operator:"
_OPERATOR_TERM = "starts_with(src, 'operator:')"


def quote_ident(name: str, /) -> str:
    """Return `name` quoted as a PostgreSQL identifier, safe to splice into SQL."""
    return '"' + name.replace('"', '""') + '"'


def append_only_ddl(schema: str, table: str, /) -> str:
    """Return the DDL that makes `schema.table` refuse every UPDATE, DELETE and TRUNCATE.

    Row triggers refuse UPDATE and DELETE (including `INSERT ... ON CONFLICT DO UPDATE`), a
    statement trigger refuses TRUNCATE. Dropping the table or its schema stays possible: that
    is an explicit, privileged act, not a quiet rewrite of history. Needs PostgreSQL >= 14.
    """
    s, t = quote_ident(schema), quote_ident(table)
    return f"""
CREATE OR REPLACE FUNCTION {s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE OR REPLACE TRIGGER refuse_change BEFORE UPDATE OR DELETE ON {s}.{t}
    FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change();
CREATE OR REPLACE TRIGGER refuse_truncate BEFORE TRUNCATE ON {s}.{t}
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change();
"""


def redact_dsn(dsn: str, /) -> str:
    """Return `dsn` as `user@host:port/db`, without the password, for messages and logs.

    The query string goes too (it may hold `password=`); anything but a postgres URL, which is
    all asyncpg accepts, is not echoed at all.
    """
    try:
        url = urlsplit(dsn)
        host = url.hostname or ""
        port = f":{url.port}" if url.port else ""
    except ValueError:
        return "<unparsable dsn>"
    if url.scheme not in ("postgres", "postgresql"):
        return "<not a postgres:// dsn>"
    user = f"{url.username}@" if url.username else ""
    return f"{user}{host}{port}{url.path}"


class PostgresStore:
    """Store runs in one schema of a PostgreSQL database, through an asyncpg pool.

    `open` creates the schema when missing (under an advisory lock, so two daemons may start at
    once). `append` is durable when it returns as long as the server keeps its default
    `synchronous_commit = on`. Every method is a cancellation point.
    """

    name = "postgres"

    @classmethod
    def from_config(cls, cfg: StoreConfig, /, *, data_dir: Path) -> PostgresStore:
        """Build the store `[store]` describes (the data dir holds nothing of it)."""
        return cls(cfg.dsn, schema=cfg.schema)

    def __init__(
        self, dsn: str, /, *, schema: str = "kinetic", min_size: int = 1, max_size: int = 4
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._min_size = min_size
        self._max_size = max_size
        self._where = f"postgres store at `{redact_dsn(dsn)}` schema `{schema}`"
        self._pool: Any = None
        s = quote_ident(schema)
        self._ddl = (
            _SCHEMA.format(s=s)
            + append_only_ddl(schema, "journal")
            + append_only_ddl(schema, "snapshots")
        )
        self._insert_run = (
            f"INSERT INTO {s}.runs ({_RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        self._select_run = f"SELECT {_RUN_COLUMNS} FROM {s}.runs WHERE run_id = $1"
        self._select_runs = f"SELECT {_RUN_COLUMNS} FROM {s}.runs ORDER BY created_ns, run_id"
        self._update_status = f"UPDATE {s}.runs SET status = $2 WHERE run_id = $1"
        self._select_page = (
            f"SELECT {_ROW_SELECT} FROM {s}.journal WHERE run_id = $1 AND seq > $2 "
            "ORDER BY seq LIMIT $3"
        )
        self._select_last = (
            f"SELECT {_ROW_SELECT} FROM {s}.journal WHERE run_id = $1 ORDER BY seq DESC LIMIT 1"
        )
        self._insert_snapshot = (
            f"INSERT INTO {s}.snapshots (run_id, seq, head, data) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (run_id, seq) DO NOTHING"
        )
        self._select_snapshot = (
            f"SELECT head, data FROM {s}.snapshots WHERE run_id = $1 AND seq = $2"
        )
        self._select_latest_snapshot = (
            f"SELECT seq, head, data FROM {s}.snapshots WHERE run_id = $1 ORDER BY seq DESC LIMIT 1"
        )

    @property
    def schema(self) -> str:
        """Return the schema that holds the tables."""
        return self._schema

    async def open(self) -> None:
        """Connect the pool and create the schema when missing; idempotent."""
        if self._pool is not None:
            return
        with self._failing("connect"):
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                server_settings={"application_name": "kinetic"},
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

    async def create_run(self, run: RunInfo, /) -> None:
        """Record a new run; a `run_id` already stored raises `StoreBrokenError`."""
        pool = self._require_pool()
        with self._failing(f"create run `{run.run_id}`"):
            await pool.execute(
                self._insert_run,
                run.run_id,
                run.kernel,
                run.mode,
                run.level,
                run.seed,
                run.config,
                run.created_ns,
                run.status,
            )

    async def get_run(self, run_id: str, /) -> RunInfo | None:
        """Return the run, or None when it is not stored."""
        pool = self._require_pool()
        with self._failing(f"get run `{run_id}`"):
            record = await pool.fetchrow(self._select_run, run_id)
        return None if record is None else _run_info(record)

    async def list_runs(self) -> list[RunInfo]:
        """Return every run, oldest first (by `created_ns`, then `run_id`)."""
        pool = self._require_pool()
        with self._failing("list runs"):
            records = await pool.fetch(self._select_runs)
        return [_run_info(record) for record in records]

    async def set_run_status(self, run_id: str, status: Literal["open", "closed"], /) -> None:
        """Set the status of a stored run: the one change the store allows on a run."""
        pool = self._require_pool()
        with self._failing(f"set the status of run `{run_id}`"):
            result = await pool.execute(self._update_status, run_id, status)
        if result == "UPDATE 0":
            raise StoreBrokenError(f"{self._where} has no run `{run_id}`")

    async def append(self, run_id: str, rows: Sequence[JournalRow], /) -> None:
        """Store `rows` with one COPY (one transaction); they are durable when this returns.

        A seq already stored for the run raises `StoreBrokenError` and stores none of the batch.
        """
        if not rows:
            return
        pool = self._require_pool()
        with self._failing(f"append seq {rows[0].seq}..{rows[-1].seq} of run `{run_id}`"):
            async with pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "journal",
                    schema_name=self._schema,
                    columns=_COPY_COLUMNS,
                    # A generator, not a list: asyncpg encodes and sends while it iterates, so
                    # the server starts on the first rows while the last are still tuples.
                    records=(
                        (run_id, seq, ts, kind, type_, src, corr or None, prev, hash_, data)
                        for seq, ts, kind, type_, src, corr, prev, hash_, data in rows
                    ),
                )

    async def read(
        self, run_id: str, /, *, after_seq: int = 0, batch: int = 10_000
    ) -> AsyncIterator[list[JournalRow]]:
        """Yield the rows of `run_id` after `after_seq` in seq order, at most `batch` at a time.

        Each batch is one keyset query (`seq > last`) on the primary key: no connection,
        transaction or cursor stays held between batches, so a slow consumer pins nothing.
        """
        if batch < 1:
            raise ValueError(f"`batch` must be >= 1, got {batch}")
        pool = self._require_pool()
        last = after_seq
        while True:
            with self._failing(f"read run `{run_id}` after seq {last}"):
                records = await pool.fetch(self._select_page, run_id, last, batch)
            if records:
                yield list(map(JournalRow._make, records))
            if len(records) < batch:
                return
            last = records[-1][0]

    async def last_row(self, run_id: str, /) -> JournalRow | None:
        """Return the row with the highest seq of `run_id`, or None when it has none."""
        pool = self._require_pool()
        with self._failing(f"read the last row of run `{run_id}`"):
            record = await pool.fetchrow(self._select_last, run_id)
        return None if record is None else JournalRow._make(record)

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

        One statement: a type filter reads `journal_by_type_key`, a corr filter `journal_by_corr`,
        an `operator:` src prefix `journal_by_operator`, anything else the primary key. Several
        types are one index range each (a LATERAL join over the array), every one cut at `limit`,
        so a page never sorts more than `limit` rows per type. A type filter's statement runs in
        a read-only transaction that leaves the planner the type index's scan only (`_TYPE_KEY`).
        """
        tags = check_query(types, limit)
        sql, params = self._query_sql(
            run_id,
            tags,
            corr=corr,
            src_prefix=src_prefix,
            after_seq=after_seq,
            before_seq=before_seq,
            limit=limit,
            newest_first=newest_first,
        )
        pool = self._require_pool()
        with self._failing(f"query run `{run_id}`"):
            if not _reads_type_index(tags, corr, src_prefix):
                records = await pool.fetch(sql, *params)
            else:
                async with pool.acquire() as conn, conn.transaction(readonly=True):
                    await conn.execute(_TYPE_SCAN)
                    records = await conn.fetch(sql, *params)
        return list(map(JournalRow._make, records))

    async def save_snapshot(self, snapshot: Snapshot, /) -> None:
        """Store `snapshot`; saving the same one again is a no-op.

        A different snapshot at a seq already stored raises `StoreBrokenError`: state at one
        seq is deterministic, so two versions of it mean a bug, not an update.
        """
        pool = self._require_pool()
        key = (snapshot.run_id, snapshot.seq)
        with self._failing(f"save the snapshot of run `{snapshot.run_id}` at seq {snapshot.seq}"):
            result = await pool.execute(self._insert_snapshot, *key, snapshot.head, snapshot.data)
            stored = (
                None if result == "INSERT 0 1" else await pool.fetchrow(self._select_snapshot, *key)
            )
        if stored is not None and tuple(stored) != (snapshot.head, snapshot.data):
            raise StoreBrokenError(
                f"{self._where} refused the snapshot of run `{snapshot.run_id}` at seq "
                f"{snapshot.seq}: another one is stored there"
            )

    async def latest_snapshot(self, run_id: str, /) -> Snapshot | None:
        """Return the snapshot with the highest seq of `run_id`, or None when it has none."""
        pool = self._require_pool()
        with self._failing(f"read the latest snapshot of run `{run_id}`"):
            record = await pool.fetchrow(self._select_latest_snapshot, run_id)
        if record is None:
            return None
        seq, head, data = record
        return Snapshot(run_id=run_id, seq=seq, head=head, data=data)

    def _query_sql(
        self,
        run_id: str,
        tags: tuple[str, ...],
        /,
        *,
        corr: str | None,
        src_prefix: str | None,
        after_seq: int,
        before_seq: int | None,
        limit: int,
        newest_first: bool,
    ) -> tuple[str, list[object]]:
        """Return the statement of one `query` and its parameters."""
        params: list[object] = []

        def bind(value: object) -> str:
            params.append(value)
            return f"${len(params)}"

        run = bind(run_id)
        where = [
            # Not a term the primary key can use when the type index must serve: see `_TYPE_KEY`.
            f"(run_id = {run}) IS TRUE"
            if _reads_type_index(tags, corr, src_prefix)
            else f"run_id = {run}",
            f"seq > {bind(after_seq)}",
            "kind <> 'ck'",
        ]
        if before_seq is not None:
            where.append(f"seq < {bind(before_seq)}")
        if corr == "":
            where.append("corr IS NULL")  # stored so: see `append`
        elif corr is not None:
            where.append(f"corr = {bind(corr)}")
        if src_prefix:
            if src_prefix.startswith(_OPERATOR_PREFIX):
                where.append(_OPERATOR_TERM)
            # starts_with compares characters as they are: `%` and `_` in the prefix are literal.
            where.append(f"starts_with(src, {bind(src_prefix)})")
        order = "seq DESC" if newest_first else "seq"
        top = bind(limit)
        journal = f"{quote_ident(self._schema)}.journal"
        if len(tags) > 1:
            where += _type_terms("t.tag", run)
            sql = (
                f"SELECT r.* FROM unnest({bind(list(tags))}::text[]) AS t(tag) CROSS JOIN LATERAL "
                f"(SELECT {_ROW_SELECT} FROM {journal} WHERE {' AND '.join(where)} "
                f"ORDER BY {order} LIMIT {top}) AS r ORDER BY r.{order} LIMIT {top}"
            )
        else:
            if tags:
                where += _type_terms(bind(tags[0]), run)
            sql = (
                f"SELECT {_ROW_SELECT} FROM {journal} WHERE {' AND '.join(where)} "
                f"ORDER BY {order} LIMIT {top}"
            )
        return sql, params

    async def _execute_raw(self, sql: str, /) -> None:
        """Run one SQL statement with the store's schema first on the search path.

        A test hook: the contract suite proves with it that the triggers refuse UPDATE, DELETE
        and TRUNCATE. Never call it from product code.
        """
        pool = self._require_pool()
        with self._failing("execute raw sql"):
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {quote_ident(self._schema)}")
                await conn.execute(sql)

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


def _reads_type_index(types: Sequence[str], corr: str | None, src_prefix: str | None, /) -> bool:
    """Return whether `journal_by_type_key` serves a query (see `_TYPE_KEY`).

    It does for a type filter, unless a corr or an operator filter is there too: their indexes
    hold fewer rows.
    """
    operator = src_prefix is not None and src_prefix.startswith(_OPERATOR_PREFIX)
    return bool(types) and not corr and not operator


def _type_terms(tag: str, run: str, /) -> list[str]:
    """Return the terms that keep the rows of type `tag` of run `run` (SQL expressions).

    The first is the key of `journal_by_type_key`, so the index serves it; the second drops the
    rows of another type of the same hash.
    """
    # COLLATE "C": hash as the index does, over the columns' collation, whatever the default.
    key = f'hashtextextended({tag} COLLATE "C", hashtext({run} COLLATE "C"))'
    return [f"{_TYPE_KEY} = {key}", f"type = {tag}"]


def _run_info(record: Any) -> RunInfo:
    run_id, kernel, mode, level, seed, config, created_ns, status = record
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
    _CONFORMS: type[Store] = PostgresStore
