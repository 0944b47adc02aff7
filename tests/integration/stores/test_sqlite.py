"""Run the store contract on `SqliteStore`, plus what only a file store can show."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from adapters.stores.sqlite import SqliteStore, append_only_ddl
from runtime._errors import StoreBrokenError, StoreClosedError
from tests.integration.stores.contract import (
    StoreContract,
    StoreFactory,
    journal_row,
    read_all,
    run_info,
)


class TestSqliteStore(StoreContract):
    """Hold `SqliteStore` to the contract, on a file in a fresh directory."""

    @pytest.fixture
    def new_store(self, tmp_path: Path) -> StoreFactory:
        """Return stores over one file two directories below the test's tmp dir."""
        path = tmp_path / "data" / "journal" / "kinetic.db"
        return lambda: SqliteStore(path)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """Yield an open store at `tmp_path/kinetic.db`."""
    store = SqliteStore(tmp_path / "kinetic.db")
    await store.open()
    yield store
    await store.close()


@pytest.mark.anyio
async def test_open_creates_the_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "kinetic.db"
    store = SqliteStore(path)
    await store.open()
    await store.open()  # idempotent
    try:
        assert path.is_file()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert conn.execute("PRAGMA page_size").fetchone() == (16384,)
    finally:
        await store.close()
        await store.close()  # idempotent


@pytest.mark.anyio
@pytest.mark.parametrize(("fsync", "level"), [(True, 2), (False, 1)])
async def test_fsync_sets_synchronous(tmp_path: Path, fsync: bool, level: int) -> None:
    store = SqliteStore(tmp_path / "kinetic.db", fsync=fsync)
    await store.open()
    try:
        conn = store._conn  # nothing else runs: reading it from this thread is safe
        assert conn is not None
        assert conn.execute("PRAGMA synchronous").fetchone() == (level,)  # FULL=2, NORMAL=1
    finally:
        await store.close()


@pytest.mark.anyio
async def test_insert_or_replace_is_refused(sqlite_store: SqliteStore) -> None:
    run = run_info()
    await sqlite_store.create_run(run)
    await sqlite_store.append(run.run_id, [journal_row(1)])
    # REPLACE deletes the old row: the DELETE trigger must fire (recursive_triggers).
    with pytest.raises(StoreBrokenError, match="append-only"):
        await sqlite_store._execute_raw(
            "INSERT OR REPLACE INTO journal (run_id, seq, ts, kind, type, src, hash, data) "
            f"VALUES ('{run.run_id}', 1, 0, 'in', 't', 's', X'00', X'00')"
        )
    assert await sqlite_store.last_row(run.run_id) == journal_row(1)


@pytest.mark.anyio
async def test_another_connection_reads_while_the_store_writes(
    sqlite_store: SqliteStore,
) -> None:
    run = run_info()
    await sqlite_store.create_run(run)
    await sqlite_store.append(run.run_id, [journal_row(1), journal_row(2, corr="sig")])
    with sqlite3.connect(sqlite_store.path) as reader:
        # An empty corr is stored as NULL, so the partial corr index skips it.
        assert reader.execute(
            "SELECT seq, corr FROM journal WHERE run_id = ? ORDER BY seq", (run.run_id,)
        ).fetchall() == [(1, None), (2, "sig")]
        plan = reader.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM journal WHERE run_id = ? AND corr = ?",
            (run.run_id, "sig"),
        ).fetchall()
        assert "journal_by_corr" in str(plan)


@pytest.mark.anyio
async def test_append_in_chunks_and_tail(sqlite_store: SqliteStore) -> None:
    # 256 rows go in per statement; check the seams and the single-row tail.
    run = run_info()
    await sqlite_store.create_run(run)
    rows = [journal_row(s, corr=str(s % 7) if s % 2 else "") for s in range(1, 1000)]
    await sqlite_store.append(run.run_id, rows)
    assert await read_all(sqlite_store, run.run_id, batch=5000) == [rows]


@pytest.mark.anyio
@pytest.mark.parametrize("count", [1, 300, 600])
async def test_blobs_and_a_missing_prev_are_stored_as_blob_and_null(
    sqlite_store: SqliteStore, count: int
) -> None:
    # `append` binds blobs as bytearrays and a missing prev as 0 (the cheap way for sqlite3);
    # the file must hold what binding bytes and None would: BLOBs, empty ones too, and NULL.
    run = run_info()
    await sqlite_store.create_run(run)
    prevs = [None, b"", b"\x01" * 32]
    rows = [
        journal_row(s, prev=prevs[s % 3])._replace(data=b"" if s % 5 == 0 else bytes([s % 256]))
        for s in range(1, count + 1)
    ]
    rows[0] = rows[0]._replace(hash=b"")
    all_none = [journal_row(s) for s in range(count + 1, 2 * count + 1)]  # prev=None: one path
    await sqlite_store.append(run.run_id, rows)
    await sqlite_store.append(run.run_id, all_none)
    assert await read_all(sqlite_store, run.run_id, batch=5000) == [rows + all_none]
    with sqlite3.connect(sqlite_store.path) as reader:
        stored = reader.execute(
            "SELECT seq, typeof(prev), typeof(hash), typeof(data) FROM journal WHERE run_id = ? "
            "ORDER BY seq",
            (run.run_id,),
        ).fetchall()
    assert stored == [
        (r.seq, "null" if r.prev is None else "blob", "blob", "blob") for r in rows + all_none
    ]


@pytest.mark.anyio
async def test_errors_name_the_file_and_chain_the_cause(sqlite_store: SqliteStore) -> None:
    run = run_info()
    await sqlite_store.create_run(run)
    await sqlite_store.append(run.run_id, [journal_row(1)])
    with pytest.raises(StoreBrokenError) as info:
        await sqlite_store.append(run.run_id, [journal_row(1)])
    message = str(info.value)
    assert message.startswith(f"sqlite store at `{sqlite_store.path}` failed to append seq 1..1")
    assert "UNIQUE constraint failed" in message
    assert not message.endswith(".")
    assert isinstance(info.value.__cause__, sqlite3.IntegrityError)


@pytest.mark.anyio
async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "kinetic.db")
    with pytest.raises(StoreClosedError, match="is not open"):
        await store.get_run("x")


@pytest.mark.anyio
async def test_an_unopenable_path_raises_store_broken(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = SqliteStore(tmp_path / "file" / "kinetic.db")
    with pytest.raises(StoreBrokenError, match="failed to open") as info:
        await store.open()
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.anyio
async def test_an_int_beyond_64_bits_raises_store_broken(sqlite_store: SqliteStore) -> None:
    run = msgspec.structs.replace(run_info(), seed=2**64)
    with pytest.raises(StoreBrokenError, match=f"failed to create run `{run.run_id}`"):
        await sqlite_store.create_run(run)


def test_append_only_ddl_refuses_a_table_name_that_is_not_an_identifier() -> None:
    assert "ledger_refuse_update" in append_only_ddl("ledger")
    with pytest.raises(ValueError, match="identifier"):
        append_only_ddl("ledger; DROP TABLE runs")
