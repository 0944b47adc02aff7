"""Run the store contract on `PostgresStore`, plus what only a server store can show.

Each test gets a fresh schema and drops it after. The server is `KINETIC_TEST_PG_DSN` (default
the local one): when it is unreachable the tests skip with the reason, except in CI
(`CI=true`), where they must run and so fail.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import asyncpg
import msgspec
import pytest

from adapters.stores.postgres import _TYPE_SCAN, PostgresStore, _reads_type_index, redact_dsn
from runtime._errors import StoreBrokenError, StoreClosedError
from tests.integration.stores.contract import (
    StoreContract,
    StoreFactory,
    journal_row,
    query_reference,
    read_all,
    run_info,
)

DSN = os.environ.get("KINETIC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

_reachable: dict[str, str] = {}
"""DSN -> why the server is unreachable ("" when it answers); probed once per session."""


async def require_server() -> None:
    """Return when the test server answers; otherwise fail in CI and skip elsewhere."""
    if DSN not in _reachable:
        try:
            conn = await asyncpg.connect(DSN, timeout=5)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _reachable[DSN] = f"PostgreSQL at `{redact_dsn(DSN)}` is unreachable: {exc}"
        else:
            await conn.close()
            _reachable[DSN] = ""
    reason = _reachable[DSN]
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(f"{reason} (set KINETIC_TEST_PG_DSN)")


@pytest.fixture
async def schema() -> AsyncIterator[str]:
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
class TestPostgresStore(StoreContract):
    """Hold `PostgresStore` to the contract, in a schema of its own."""

    @pytest.fixture
    def new_store(self, schema: str) -> StoreFactory:
        """Return stores over the test's schema."""
        return lambda: PostgresStore(DSN, schema=schema)


@pytest.fixture
async def pg_store(schema: str) -> AsyncIterator[PostgresStore]:
    """Yield an open store over a fresh schema."""
    store = PostgresStore(DSN, schema=schema)
    await store.open()
    yield store
    await store.close()


@pytest.mark.anyio
@pytest.mark.postgres
async def test_truncate_is_refused(pg_store: PostgresStore) -> None:
    run = run_info()
    await pg_store.create_run(run)
    await pg_store.append(run.run_id, [journal_row(1)])
    for table in ("journal", "snapshots"):
        with pytest.raises(StoreBrokenError, match=f"{table} is append-only: TRUNCATE refused"):
            await pg_store._execute_raw(f"TRUNCATE {table}")
    assert await read_all(pg_store, run.run_id) == [[journal_row(1)]]


@pytest.mark.anyio
@pytest.mark.postgres
async def test_upsert_is_refused(pg_store: PostgresStore) -> None:
    run = run_info()
    await pg_store.create_run(run)
    await pg_store.append(run.run_id, [journal_row(1)])
    with pytest.raises(StoreBrokenError, match="append-only: UPDATE refused"):
        await pg_store._execute_raw(
            "INSERT INTO journal (run_id, seq, ts, kind, type, src, hash, data) "
            f"VALUES ('{run.run_id}', 1, 0, 'in', 't', 's', '\\x00', '\\x00') "
            "ON CONFLICT (run_id, seq) DO UPDATE SET ts = 0"
        )


@pytest.mark.anyio
@pytest.mark.postgres
async def test_stores_open_one_schema_at_once(schema: str) -> None:
    stores = [PostgresStore(DSN, schema=schema) for _ in range(4)]
    try:
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(store.open)
        run = run_info()
        await stores[0].create_run(run)
        assert await stores[3].get_run(run.run_id) == run
    finally:
        for store in stores:
            await store.close()


@pytest.mark.anyio
@pytest.mark.postgres
async def test_no_corr_is_stored_as_null_and_the_corr_index_serves_lookups(
    pg_store: PostgresStore,
) -> None:
    run = run_info()
    await pg_store.create_run(run)
    await pg_store.append(run.run_id, [journal_row(1), journal_row(2, corr="sig")])
    conn = await asyncpg.connect(DSN)
    try:
        table = f'"{pg_store.schema}".journal'
        stored = await conn.fetch(f"SELECT seq, corr FROM {table} ORDER BY seq")
        assert [tuple(r) for r in stored] == [(1, None), (2, "sig")]
        await conn.execute("SET enable_seqscan = off")
        plan = await conn.fetch(
            f"EXPLAIN SELECT seq FROM {table} WHERE run_id = $1 AND corr = $2", run.run_id, "sig"
        )
        assert "journal_by_corr" in "\n".join(r[0] for r in plan)
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_an_unreachable_server_raises_store_broken_without_the_password() -> None:
    store = PostgresStore("postgresql://kinetic:s3cret@127.0.0.1:1/kinetic", schema="x")
    with pytest.raises(StoreBrokenError, match="failed to connect") as info:
        await store.open()
    message = str(info.value)
    assert message.startswith("postgres store at `kinetic@127.0.0.1:1/kinetic` schema `x`")
    assert "s3cret" not in message
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.anyio
async def test_a_closed_store_refuses_calls() -> None:
    with pytest.raises(StoreClosedError, match="is not open"):
        await PostgresStore(DSN).list_runs()


def test_redact_dsn() -> None:
    assert redact_dsn("postgresql://u:pw@db.example:6543/k?sslmode=require") == (
        "u@db.example:6543/k"
    )
    assert redact_dsn("postgresql:///k") == "/k"
    assert redact_dsn("host=db password=pw") == "<not a postgres:// dsn>"


@pytest.mark.anyio
@pytest.mark.postgres
async def test_an_int_beyond_64_bits_raises_store_broken(pg_store: PostgresStore) -> None:
    run = msgspec.structs.replace(run_info(), seed=2**64)
    with pytest.raises(StoreBrokenError, match=f"failed to create run `{run.run_id}`"):
        await pg_store.create_run(run)


_TYPES = ("data.Tick", "data.Tick", "data.Tick", "ml.Quote", "exec.OrderFilled", "ledger.Posted")


async def _fill_two_runs(store: PostgresStore) -> list[str]:
    """Store two runs of 3,000 rows each with one rare type and one operator row; ANALYZE."""
    runs = [run_info(), run_info()]
    for run in runs:
        await store.create_run(run)
        rows = [
            journal_row(seq, corr=f"c{seq // 4}" if seq % 3 == 0 else "")._replace(
                type=_TYPES[seq % len(_TYPES)]
            )
            for seq in range(1, 3001)
        ]
        rows[1500] = rows[1500]._replace(type="control.Kill", src="operator:alice")
        await store.append(run.run_id, rows)
    await store._execute_raw("ANALYZE journal")
    return [run.run_id for run in runs]


def _literal(value: object) -> str:
    """Return `value` (a str, an int or a list of str) as a PostgreSQL literal."""
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(map(_literal, value)) + "]::text[]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    assert isinstance(value, int)
    return str(value)


async def _plan(store: PostgresStore, run_id: str, *, generic: bool, **query: Any) -> str:
    """Return the plan of the statement `store.query(run_id, **query)` runs, as text.

    With `generic`, the plan PostgreSQL caches for a prepared statement after a few runs: made
    without the parameters' values, so it cannot tell a rare type from a common one.
    """
    tags = tuple(query.pop("types", ()))
    corr, src_prefix = query.pop("corr", None), query.pop("src_prefix", None)
    sql, params = store._query_sql(
        run_id,
        tags,
        corr=corr,
        src_prefix=src_prefix,
        after_seq=query.pop("after_seq", 0),
        before_seq=query.pop("before_seq", None),
        limit=query.pop("limit", 100),
        newest_first=query.pop("newest_first", False),
    )
    assert not query
    conn = await asyncpg.connect(DSN)
    try:
        async with conn.transaction():
            if _reads_type_index(tags, corr, src_prefix):
                await conn.execute(_TYPE_SCAN)  # as `query` does
            mode = "force_generic_plan" if generic else "force_custom_plan"
            await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
            await conn.execute(f"PREPARE q AS {sql}")
            rows = await conn.fetch(f"EXPLAIN EXECUTE q({', '.join(map(_literal, params))})")
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


@pytest.mark.anyio
@pytest.mark.postgres
@pytest.mark.parametrize("generic", [False, True])
@pytest.mark.parametrize(
    ("query", "index"),
    [
        ({"types": ["control.Kill"]}, "journal_by_type_key"),
        ({"types": ["data.Tick"]}, "journal_by_type_key"),
        ({"types": ["ml.Quote"], "newest_first": True, "before_seq": 2000}, "journal_by_type_key"),
        ({"types": ["control.Kill", "data.Tick"]}, "journal_by_type_key"),
        ({"types": ["control.Kill", "ledger.Posted"], "after_seq": 10}, "journal_by_type_key"),
        ({"types": ["data.Tick"], "limit": 1000}, "journal_by_type_key"),
        ({"types": ["data.Tick", "ml.Quote"], "limit": 1000}, "journal_by_type_key"),
        ({"types": ["data.Tick"], "corr": ""}, "journal_by_type_key"),
        ({"corr": "c300"}, "journal_by_corr"),
        ({"types": ["ml.Quote"], "corr": "c300"}, "journal_by_corr"),
        ({"src_prefix": "operator:"}, "journal_by_operator"),
        ({"types": ["control.Kill"], "src_prefix": "operator:al"}, "journal_by_operator"),
        ({"after_seq": 2000}, "journal_pkey"),
    ],
)
async def test_each_filter_reads_its_index(
    pg_store: PostgresStore, query: dict[str, Any], index: str, generic: bool
) -> None:
    # A type filter must find a rare type through the index whatever the planner knows of it:
    # walking the primary key and filtering would read the whole run to find a rare type.
    # A type filter must also stop after `limit` rows, not sort every row of a common type. The
    # other filters pick few rows: on a table this small they may go by bitmap and sort.
    run_id, _ = await _fill_two_runs(pg_store)
    plan = await _plan(pg_store, run_id, generic=generic, **query)
    used = set(re.findall(r"(?:Index Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)", plan))
    assert used == {index}, plan
    assert "Seq Scan" not in plan
    if index == "journal_by_type_key":
        assert "Bitmap" not in plan, plan
        # Several types: one ordered range each, then one sort of at most `limit` per type.
        assert plan.count("Sort Key") == (len(query["types"]) > 1), plan
    # And the page holds the rows of that run only, as the reference says.
    rows = await pg_store.query(run_id, **query)
    stored = [r for batch in await read_all(pg_store, run_id) for r in batch]
    assert rows == query_reference(stored, **query)
    assert rows


_OLD_TYPE_INDEX = "CREATE INDEX journal_by_type ON journal (run_id, type, seq)"
"""The type index of stores made before `journal_by_type_key`."""


@pytest.mark.anyio
@pytest.mark.postgres
async def test_an_older_store_gets_the_type_key_index_on_open(schema: str) -> None:
    store = PostgresStore(DSN, schema=schema)
    await store.open()
    run = run_info()
    rows = [journal_row(seq) for seq in range(1, 51)]
    try:
        await store.create_run(run)
        await store.append(run.run_id, rows[:25])
        await store._execute_raw(f"DROP INDEX journal_by_type_key; {_OLD_TYPE_INDEX}")
        assert await _indexes(schema) == {
            "journal_by_corr",
            "journal_by_operator",
            "journal_by_type",
            "journal_pkey",
        }
        await store.append(run.run_id, rows[25:])
    finally:
        await store.close()
    for _ in range(2):  # the migration runs once; opening again changes nothing
        again = PostgresStore(DSN, schema=schema)
        await again.open()
        try:
            assert await _indexes(schema) == {
                "journal_by_corr",
                "journal_by_operator",
                "journal_by_type_key",
                "journal_pkey",
            }
            found = await again.query(run.run_id, types=["data.Tick"], limit=100)
            assert found == [r for r in rows if r.type == "data.Tick"]
            assert await read_all(again, run.run_id) == [rows]
        finally:
            await again.close()


async def _indexes(schema: str) -> set[str]:
    conn = await asyncpg.connect(DSN)
    try:
        records = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'journal'",
            schema,
        )
    finally:
        await conn.close()
    return {r[0] for r in records}
