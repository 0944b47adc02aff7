"""Run the store contract on `PostgresStore`, plus what only a server store can show.

Each test gets a fresh schema and drops it after. The server is `KINETIC_TEST_PG_DSN` (default
the local one): when it is unreachable the tests skip with the reason, except in CI
(`CI=true`), where they must run and so fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import anyio
import asyncpg
import msgspec
import pytest

from adapters.stores.postgres import PostgresStore, redact_dsn
from runtime._errors import StoreBrokenError, StoreClosedError
from tests.integration.stores.contract import (
    StoreContract,
    StoreFactory,
    journal_row,
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
