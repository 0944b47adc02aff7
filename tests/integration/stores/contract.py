"""Define the one contract every `Store` backend passes, subclassed once per backend.

The kernel, replay and recovery only see `runtime.Store`; they work on any backend exactly when
each backend behaves the same. So the behaviour is written once, here, and `test_<backend>.py`
only says how to build its store (eventsourcing's recorder test cases work the same way).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from typing import ClassVar, Protocol, cast

import anyio
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime._errors import StoreBrokenError
from runtime._journal import JournalRow, RowKind, RunInfo, Snapshot, Store

StoreFactory = Callable[[], Store]
"""Build an unopened store over the test's one location (a file, a schema, an object)."""


class RawSql(Protocol):
    """The test hook of SQL stores: run a statement outside the store's API."""

    async def _execute_raw(self, sql: str, /) -> None: ...


_RUN_IDS = itertools.count()


def run_info(run_id: str | None = None, /, *, created_ns: int = 1) -> RunInfo:
    """Return a run with a fresh id unless one is given."""
    return RunInfo(
        run_id=run_id if run_id is not None else f"run-{next(_RUN_IDS)}",
        kernel="sim",
        mode="backtest",
        level="full",
        seed=42,
        config='{"seed": 42, "risk": {"max_notional": "1000.50"}}',
        created_ns=created_ns,
    )


def journal_row(seq: int, /, *, prev: bytes | None = None, corr: str = "") -> JournalRow:
    """Return a row that looks like the journal's: a 32-byte hash, binary msgpack data."""
    return JournalRow(
        seq=seq,
        ts=1_700_000_000_000_000_000 + seq,
        kind="in" if seq % 3 == 0 else "out",
        type="data.Tick" if seq % 2 else "exec.OrderFilled",
        src="feed",
        corr=corr,
        prev=prev,
        hash=seq.to_bytes(32, "big"),
        data=b"\x96\x00\xff" + bytes(range(seq % 200)),
    )


async def read_all(store: Store, run_id: str, /, **kwargs: int) -> list[list[JournalRow]]:
    """Return every batch `store.read` yields."""
    return [batch async for batch in store.read(run_id, **kwargs)]


_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=16)
"""Text a row field may hold: PostgreSQL `text` refuses NUL, and UTF-8 refuses lone surrogates."""

_row_fields = st.tuples(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from(("in", "out", "ck")),
    _text,
    _text,
    _text,
    st.none() | st.binary(max_size=48),
    st.binary(max_size=48),
    st.binary(max_size=512),
)


@st.composite
def batches_of_rows(draw: st.DrawFn) -> list[list[JournalRow]]:
    """Draw rows with increasing seqs, cut into batches at random places."""
    fields = draw(st.lists(_row_fields, min_size=1, max_size=40))
    seqs = sorted(
        draw(st.sets(st.integers(1, 2**63 - 1), min_size=len(fields), max_size=len(fields)))
    )
    rows = [JournalRow(seq, *f) for seq, f in zip(seqs, fields, strict=True)]
    cuts = sorted(draw(st.sets(st.integers(1, len(rows)), max_size=5)) | {0, len(rows)})
    return [rows[a:b] for a, b in itertools.pairwise(cuts)]


_QUERY_SPEC: tuple[tuple[int, RowKind, str, str, str], ...] = (
    # seq, kind, type, src, corr
    (1, "in", "data.Tick", "feed.bin", ""),
    (2, "out", "sig.Signal", "quoter", "c1"),
    (3, "out", "exec.Submit", "execution", "c1"),
    (4, "in", "control.Kill", "operator:alice", ""),
    (5, "in", "data.Tick", "feed.bin", ""),
    (6, "ck", "kernel.Checkpoint", "kernel", ""),
    (7, "in", "exec.Filled", "venue", "c1"),
    (8, "in", "data.Tick", "a_b%c", ""),
    (9, "in", "data.Tick", "aXbYc", "c2"),  # matches the LIKE pattern `a_b%` unescaped
    (10, "in", "data.Tick", "a_bZ", ""),  # and so does this one
    (11, "in", "control.Resume", "operator:bob", "c2"),
    (12, "in", "control.Kill", "operatorX", ""),
    (13, "in", "control.Kill", "OPERATOR:eve", ""),  # SQLite's LIKE ignores ASCII case
    (14, "ck", "data.Tick", "operator:mallory", "c1"),  # a checkpoint every filter would match
    (15, "out", "sig.Signal", "quoter", "c2"),
    (16, "in", "data.Tick", "feed.bin", ""),
)
_ALL = [seq for seq, kind, *_ in _QUERY_SPEC if kind != "ck"]


def query_rows(*, data: bytes = b"") -> list[JournalRow]:
    """Return the rows the query tests search: types, corrs and srcs that tell filters apart."""
    return [
        JournalRow(
            seq,
            1_700_000_000_000_000_000 + seq,
            kind,
            type_,
            src,
            corr,
            None if seq % 2 else bytes(32),
            seq.to_bytes(32, "big"),
            b"\x96" + data + type_.encode(),
        )
        for seq, kind, type_, src, corr in _QUERY_SPEC
    ]


def query_reference(
    rows: Sequence[JournalRow],
    *,
    types: Sequence[str] = (),
    corr: str | None = None,
    src_prefix: str | None = None,
    after_seq: int = 0,
    before_seq: int | None = None,
    limit: int = 100,
    newest_first: bool = False,
) -> list[JournalRow]:
    """Return what `Store.query` must return over `rows` (one run's, in seq order)."""
    found = [
        r
        for r in rows
        if r.kind != "ck"
        and after_seq < r.seq
        and (before_seq is None or r.seq < before_seq)
        and (not types or r.type in types)
        and (corr is None or r.corr == corr)
        and (src_prefix is None or r.src.startswith(src_prefix))
    ]
    return (found[::-1] if newest_first else found)[:limit]


def seqs(rows: Sequence[JournalRow], /) -> list[int]:
    """Return the seqs of `rows`, in their order."""
    return [r.seq for r in rows]


@pytest.mark.anyio
class StoreContract(abc.ABC):
    """Prove that a backend keeps runs, journal rows and snapshots as `runtime.Store` says.

    A subclass provides the `new_store` fixture. Two class attributes describe what a backend
    cannot do, each with the reason, so the exemption is visible in the test report:
    `no_sql` skips the trigger tests, `gaps` marks tests as strict xfail (they fail loudly once
    the gap is closed, and the entry must go).
    """

    no_sql: ClassVar[str | None] = None
    """Why the backend has no SQL and so no triggers to prove; None for SQL backends."""

    gaps: ClassVar[dict[str, str]] = {}
    """Test name -> why the backend does not pass it yet."""

    @pytest.fixture
    @abc.abstractmethod
    def new_store(self) -> StoreFactory:
        """Return a factory of stores over one fresh location; clean the location up after."""

    @pytest.fixture(autouse=True)
    def _known_gaps(self, request: pytest.FixtureRequest) -> None:
        reason = self.gaps.get(request.node.originalname)
        if reason is not None:
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))

    @pytest.fixture
    async def store(self, new_store: StoreFactory) -> AsyncIterator[Store]:
        """Yield an open store; close it after the test."""
        store = new_store()
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    def raw(self, store: Store) -> RawSql:
        """Return the store's raw SQL hook, or skip when the backend has no SQL."""
        if self.no_sql is not None:
            pytest.skip(self.no_sql)
        return cast(RawSql, store)

    # Runs

    async def test_create_and_get_run(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        assert await store.get_run(run.run_id) == run
        assert await store.get_run("no-such-run") is None

    async def test_list_runs_orders_by_created_then_id(self, store: Store) -> None:
        assert await store.list_runs() == []
        late = run_info("a-late", created_ns=30)
        tie_b = run_info("b-tie", created_ns=20)
        tie_a = run_info("a-tie", created_ns=20)
        early = run_info("z-early", created_ns=10)
        for run in (late, tie_b, tie_a, early):
            await store.create_run(run)
        assert await store.list_runs() == [early, tie_a, tie_b, late]

    async def test_set_run_status(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        await store.set_run_status(run.run_id, "closed")
        stored = await store.get_run(run.run_id)
        assert stored is not None
        assert stored.status == "closed"
        assert stored.config == run.config
        await store.set_run_status(run.run_id, "open")
        assert await store.get_run(run.run_id) == run

    async def test_set_status_of_unknown_run_raises(self, store: Store) -> None:
        with pytest.raises(StoreBrokenError, match="no run `ghost`"):
            await store.set_run_status("ghost", "closed")

    async def test_duplicate_run_is_refused(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        with pytest.raises(StoreBrokenError, match=f"create run `{run.run_id}`"):
            await store.create_run(run_info(run.run_id, created_ns=99))
        assert await store.get_run(run.run_id) == run

    # Journal

    async def test_append_then_read_returns_identical_rows(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        rows = [
            journal_row(1),
            journal_row(2, corr="sig-1"),
            journal_row(3, prev=bytes(32), corr="sig-1"),
            JournalRow(4, 0, "ck", "kernel.Checkpoint", "kernel", "", None, b"\x01" * 32, b""),
            JournalRow(5, -1, "in", "", "", "", b"", b"", b"\x00"),
        ]
        await store.append(run.run_id, rows[:2])
        await store.append(run.run_id, rows[2:])
        (read,) = await read_all(store, run.run_id)
        assert read == rows
        for got in read:
            assert type(got) is JournalRow
            assert all(type(v) is type(w) for v, w in zip(got, rows[got.seq - 1], strict=True))

    async def test_append_nothing_is_a_no_op(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        await store.append(run.run_id, [])
        assert await read_all(store, run.run_id) == []
        assert await store.last_row(run.run_id) is None

    async def test_read_after_seq_in_batches(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        rows = [journal_row(seq) for seq in range(1, 26)]
        await store.append(run.run_id, rows)
        batches = await read_all(store, run.run_id, batch=10)
        assert [len(b) for b in batches] == [10, 10, 5]
        assert list(itertools.chain.from_iterable(batches)) == rows
        assert await read_all(store, run.run_id, after_seq=7, batch=9) == [rows[7:16], rows[16:]]
        assert await read_all(store, run.run_id, after_seq=20, batch=5) == [rows[20:]]
        assert await read_all(store, run.run_id, after_seq=25) == []
        assert await read_all(store, run.run_id, batch=25) == [rows]

    async def test_read_rejects_an_empty_batch(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        with pytest.raises(ValueError):  # noqa: PT011 - the message is the backend's
            await read_all(store, run.run_id, batch=0)

    async def test_runs_do_not_mix(self, store: Store) -> None:
        one, two = run_info(), run_info()
        await store.create_run(one)
        await store.create_run(two)
        await store.append(one.run_id, [journal_row(1), journal_row(2)])
        await store.append(two.run_id, [journal_row(1, corr="x")])
        await store.append(one.run_id, [journal_row(3)])
        assert await read_all(store, one.run_id) == [[journal_row(s) for s in (1, 2, 3)]]
        assert await read_all(store, two.run_id) == [[journal_row(1, corr="x")]]
        assert await read_all(store, "no-such-run") == []

    async def test_last_row(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        assert await store.last_row(run.run_id) is None
        await store.append(run.run_id, [journal_row(1), journal_row(2)])
        await store.append(run.run_id, [journal_row(3, prev=b"p" * 32, corr="c")])
        assert await store.last_row(run.run_id) == journal_row(3, prev=b"p" * 32, corr="c")
        assert await store.last_row("no-such-run") is None

    async def test_duplicate_seq_is_refused(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        await store.append(run.run_id, [journal_row(seq) for seq in range(1, 6)])
        # The whole batch is refused: seq 6 must not be stored either.
        with pytest.raises(StoreBrokenError, match=f"append seq 5..6 of run `{run.run_id}`"):
            await store.append(run.run_id, [journal_row(5, corr="new"), journal_row(6)])
        with pytest.raises(StoreBrokenError):
            await store.append(run.run_id, [journal_row(7), journal_row(7)])
        assert await read_all(store, run.run_id) == [[journal_row(s) for s in range(1, 6)]]

    async def test_a_cancelled_append_stores_all_or_nothing(self, store: Store) -> None:
        run = run_info()
        await store.create_run(run)
        rows = [journal_row(seq) for seq in range(1, 20_001)]
        with anyio.move_on_after(0.002):
            await store.append(run.run_id, rows)
        stored = list(itertools.chain.from_iterable(await read_all(store, run.run_id)))
        assert stored in ([], rows)
        more = [journal_row(seq) for seq in range(len(stored) + 1, len(stored) + 3)]
        await store.append(run.run_id, more)  # the store still works
        assert await store.last_row(run.run_id) == more[-1]

    # Query

    async def query_run(self, store: Store) -> tuple[str, list[JournalRow]]:
        """Store the query rows in a new run, next to a decoy run; return the run and its rows."""
        run, decoy = run_info(), run_info()
        await store.create_run(run)
        await store.create_run(decoy)
        rows, decoys = query_rows(), query_rows(data=b"decoy")
        for cut in ((0, 5), (5, 11), (11, len(rows))):
            await store.append(run.run_id, rows[slice(*cut)])
            await store.append(decoy.run_id, decoys[slice(*cut)])
        return run.run_id, rows

    async def test_query_without_filters_returns_every_envelope_row(self, store: Store) -> None:
        run_id, rows = await self.query_run(store)
        found = await store.query(run_id)
        assert found == [r for r in rows if r.kind != "ck"]
        assert seqs(found) == _ALL
        for got in found:
            assert type(got) is JournalRow
            assert all(type(v) is type(w) for v, w in zip(got, rows[got.seq - 1], strict=True))

    async def test_query_never_returns_checkpoints(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        assert await store.query(run_id, types=["kernel.Checkpoint"]) == []
        # Seq 14 is a checkpoint of type data.Tick from `operator:mallory` with corr c1.
        everything = await store.query(
            run_id,
            types=["data.Tick"],
            corr="c1",
            src_prefix="operator:",
            after_seq=13,
            before_seq=15,
        )
        assert everything == []
        assert 6 not in seqs(await store.query(run_id, corr="", newest_first=True))

    async def test_query_by_type(self, store: Store) -> None:
        run_id, rows = await self.query_run(store)
        assert await store.query(run_id, types=["data.Tick"]) == [
            rows[s - 1] for s in (1, 5, 8, 9, 10, 16)
        ]
        assert seqs(await store.query(run_id, types=("exec.Filled",))) == [7]
        assert seqs(await store.query(run_id, types=["no.Such"])) == []
        several = ["control.Kill", "exec.Filled", "control.Kill", "no.Such"]
        assert seqs(await store.query(run_id, types=several)) == [4, 7, 12, 13]
        assert seqs(await store.query(run_id, types=several, newest_first=True)) == [13, 12, 7, 4]

    async def test_query_by_many_types(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        many = [f"no.Such{i}" for i in range(100)] + ["control.Resume", "exec.Filled"]
        assert seqs(await store.query(run_id, types=many)) == [7, 11]
        assert seqs(await store.query(run_id, types=many, newest_first=True, limit=1)) == [11]

    async def test_query_by_several_types_merges_them_in_seq_order(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        # Each type alone has more rows than the limit: the page must take the first by seq.
        mixed = ["data.Tick", "control.Kill"]
        assert seqs(await store.query(run_id, types=mixed, limit=3)) == [1, 4, 5]
        assert seqs(await store.query(run_id, types=mixed, limit=3, newest_first=True)) == [
            16,
            13,
            12,
        ]
        assert seqs(await store.query(run_id, types=mixed, after_seq=4, before_seq=13)) == [
            5,
            8,
            9,
            10,
            12,
        ]

    async def test_query_rejects_a_str_of_types(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        with pytest.raises(TypeError, match="types"):
            await store.query(run_id, types="data.Tick")

    async def test_query_by_corr(self, store: Store) -> None:
        run_id, rows = await self.query_run(store)
        assert await store.query(run_id, corr="c1") == [rows[1], rows[2], rows[6]]
        assert seqs(await store.query(run_id, corr="c2")) == [9, 11, 15]
        assert seqs(await store.query(run_id, corr="no-such")) == []
        # "" is no correlation (NULL in the SQL stores): it matches the rows without one.
        assert seqs(await store.query(run_id, corr="")) == [1, 4, 5, 8, 10, 12, 13, 16]
        assert seqs(await store.query(run_id, corr="", types=["control.Kill"])) == [4, 12, 13]
        assert seqs(await store.query(run_id, corr="c2", types=["sig.Signal", "data.Tick"])) == [
            9,
            15,
        ]

    @pytest.mark.parametrize(
        ("prefix", "expected"),
        [
            ("operator:", [4, 11]),
            ("operator:b", [11]),
            ("operator:bob", [11]),
            ("operator:bobby", []),
            ("oper", [4, 11, 12]),
            ("OPERATOR:", [13]),
            # `_` and `%` are characters, not wildcards: `a_b%` as LIKE would match 9 and 10.
            ("a_b%", [8]),
            ("a_b", [8, 10]),
            ("a%", []),
            ("_", []),
            ("", _ALL),
        ],
    )
    async def test_query_by_src_prefix(
        self, store: Store, prefix: str, expected: list[int]
    ) -> None:
        run_id, rows = await self.query_run(store)
        found = await store.query(run_id, src_prefix=prefix)
        assert found == [rows[s - 1] for s in expected]
        assert await store.query(run_id, src_prefix=prefix, newest_first=True) == found[::-1]

    async def test_query_operator_rows(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        kinds = ["control.Kill", "control.Resume"]
        found = await store.query(run_id, types=kinds, src_prefix="operator:", newest_first=True)
        assert seqs(found) == [11, 4]
        assert seqs(await store.query(run_id, src_prefix="operator:", before_seq=11)) == [4]
        assert seqs(await store.query(run_id, src_prefix="operator:", corr="c2")) == [11]

    async def test_query_seq_window(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        assert seqs(await store.query(run_id, after_seq=4, before_seq=11)) == [5, 7, 8, 9, 10]
        assert seqs(await store.query(run_id, after_seq=5, before_seq=7)) == []
        assert seqs(await store.query(run_id, after_seq=15)) == [16]
        assert seqs(await store.query(run_id, after_seq=16)) == []
        assert seqs(await store.query(run_id, before_seq=2)) == [1]
        assert seqs(await store.query(run_id, before_seq=1)) == []
        assert seqs(await store.query(run_id, after_seq=10, before_seq=5)) == []
        assert seqs(await store.query(run_id, after_seq=-5, before_seq=10**12)) == _ALL

    async def test_query_pages_forward_and_back(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        forward: list[int] = []
        after = 0
        while page := await store.query(run_id, after_seq=after, limit=4):
            assert len(page) <= 4
            forward += seqs(page)
            after = page[-1].seq
        assert forward == _ALL
        back: list[int] = []
        before: int | None = None
        while page := await store.query(run_id, before_seq=before, limit=3, newest_first=True):
            back += seqs(page)
            before = page[-1].seq
        assert back == _ALL[::-1]

    async def test_query_newest_first(self, store: Store) -> None:
        run_id, rows = await self.query_run(store)
        latest = await store.query(run_id, newest_first=True)
        assert latest == [r for r in reversed(rows) if r.kind != "ck"]
        assert seqs(await store.query(run_id, newest_first=True, limit=3)) == [16, 15, 13]
        assert seqs(await store.query(run_id, types=["data.Tick"], newest_first=True, limit=2)) == [
            16,
            10,
        ]
        assert seqs(await store.query(run_id, corr="c1", newest_first=True, limit=2)) == [7, 3]
        assert seqs(await store.query(run_id, newest_first=True, after_seq=9, before_seq=13)) == [
            12,
            11,
            10,
        ]

    async def test_query_combines_filters(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        found = await store.query(
            run_id,
            types=["data.Tick", "control.Kill"],
            corr="",
            src_prefix="a_b",
            after_seq=1,
            before_seq=16,
        )
        assert seqs(found) == [8, 10]
        latest = await store.query(
            run_id,
            types=["data.Tick", "control.Kill"],
            corr="",
            src_prefix="a_b",
            after_seq=1,
            before_seq=16,
            newest_first=True,
            limit=1,
        )
        assert seqs(latest) == [10]

    async def test_query_limit(self, store: Store) -> None:
        run_id, _ = await self.query_run(store)
        assert seqs(await store.query(run_id, limit=1)) == [1]
        assert seqs(await store.query(run_id, limit=len(_ALL) - 1)) == _ALL[:-1]
        assert seqs(await store.query(run_id, limit=10_000)) == _ALL
        for limit in (0, -1, 10_001):
            with pytest.raises(ValueError, match="limit"):
                await store.query(run_id, limit=limit)
        with pytest.raises(ValueError, match="limit"):
            await store.query("no-such-run", types=["data.Tick", "x"], limit=0)

    async def test_query_keeps_runs_apart(self, store: Store) -> None:
        run_id, rows = await self.query_run(store)
        # The decoy run has the same seqs, types, srcs and corrs, and other data.
        assert await store.query(run_id, limit=10_000) == [r for r in rows if r.kind != "ck"]
        assert await store.query(run_id, types=["data.Tick", "control.Kill"], corr="") == [
            rows[s - 1] for s in (1, 4, 5, 8, 10, 12, 13, 16)
        ]
        assert await store.query(run_id, src_prefix="operator:") == [rows[3], rows[10]]
        assert await store.query("no-such-run") == []
        assert await store.query("no-such-run", types=["data.Tick", "sig.Signal"]) == []
        empty = run_info()
        await store.create_run(empty)
        assert await store.query(empty.run_id, newest_first=True) == []

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        types=st.lists(
            st.sampled_from(["data.Tick", "control.Kill", "sig.Signal", "kernel.Checkpoint", "x"]),
            max_size=3,
        ),
        corr=st.sampled_from([None, "", "c1", "c2"]),
        src_prefix=st.sampled_from([None, "", "operator:", "operator:a", "oper", "a_b", "feed"]),
        after_seq=st.integers(-1, 17),
        before_seq=st.none() | st.integers(0, 18),
        limit=st.integers(1, 18),
        newest_first=st.booleans(),
    )
    async def test_query_matches_the_reference(
        self,
        store: Store,
        types: list[str],
        corr: str | None,
        src_prefix: str | None,
        after_seq: int,
        before_seq: int | None,
        limit: int,
        newest_first: bool,
    ) -> None:
        run_id, rows = await self.query_run(store)
        found = await store.query(
            run_id,
            types=types,
            corr=corr,
            src_prefix=src_prefix,
            after_seq=after_seq,
            before_seq=before_seq,
            limit=limit,
            newest_first=newest_first,
        )
        assert found == query_reference(
            rows,
            types=types,
            corr=corr,
            src_prefix=src_prefix,
            after_seq=after_seq,
            before_seq=before_seq,
            limit=limit,
            newest_first=newest_first,
        )

    # Snapshots

    async def test_snapshots(self, store: Store) -> None:
        run, other = run_info(), run_info()
        await store.create_run(run)
        assert await store.latest_snapshot(run.run_id) is None
        first = Snapshot(run_id=run.run_id, seq=10, head=b"a" * 32, data=b"\x00state-10")
        latest = Snapshot(run_id=run.run_id, seq=20, head=b"b" * 32, data=b"")
        theirs = Snapshot(run_id=other.run_id, seq=30, head=b"c" * 32, data=b"other")
        await store.save_snapshot(first)
        assert await store.latest_snapshot(run.run_id) == first
        await store.save_snapshot(latest)
        await store.save_snapshot(theirs)
        assert await store.latest_snapshot(run.run_id) == latest
        assert await store.latest_snapshot(other.run_id) == theirs

    async def test_saving_the_same_snapshot_again_is_a_no_op(self, store: Store) -> None:
        snap = Snapshot(run_id=run_info().run_id, seq=5, head=b"h" * 32, data=b"state")
        await store.save_snapshot(snap)
        await store.save_snapshot(msgspec.structs.replace(snap))
        assert await store.latest_snapshot(snap.run_id) == snap

    async def test_a_different_snapshot_at_a_stored_seq_is_refused(self, store: Store) -> None:
        snap = Snapshot(run_id=run_info().run_id, seq=5, head=b"h" * 32, data=b"state")
        await store.save_snapshot(snap)
        with pytest.raises(StoreBrokenError, match="another one is stored there"):
            await store.save_snapshot(
                Snapshot(run_id=snap.run_id, seq=5, head=b"h" * 32, data=b"other state")
            )
        assert await store.latest_snapshot(snap.run_id) == snap

    # Append-only

    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE journal SET ts = 0",
            "UPDATE journal SET data = hash WHERE seq = 2",
            "DELETE FROM journal WHERE seq = 1",
            "DELETE FROM journal",
            "UPDATE snapshots SET data = head",
            "DELETE FROM snapshots",
        ],
    )
    async def test_journal_and_snapshots_are_append_only(self, store: Store, sql: str) -> None:
        raw = self.raw(store)
        run = run_info()
        await store.create_run(run)
        rows = [journal_row(1), journal_row(2)]
        await store.append(run.run_id, rows)
        snap = Snapshot(run_id=run.run_id, seq=2, head=b"h" * 32, data=b"state")
        await store.save_snapshot(snap)
        with pytest.raises(StoreBrokenError, match="append-only"):
            await raw._execute_raw(sql)
        assert await read_all(store, run.run_id) == [rows]
        assert await store.latest_snapshot(run.run_id) == snap

    async def test_run_status_is_the_one_update_allowed(self, store: Store) -> None:
        raw = self.raw(store)
        run = run_info()
        await store.create_run(run)
        await raw._execute_raw(f"UPDATE runs SET status = 'closed' WHERE run_id = '{run.run_id}'")
        stored = await store.get_run(run.run_id)
        assert stored is not None
        assert stored.status == "closed"

    # Durability and round trips

    async def test_data_survives_close_and_reopen(
        self, store: Store, new_store: StoreFactory
    ) -> None:
        run = run_info()
        await store.create_run(run)
        rows = [journal_row(seq, corr="c" if seq % 4 else "") for seq in range(1, 101)]
        await store.append(run.run_id, rows)
        snap = Snapshot(run_id=run.run_id, seq=100, head=rows[-1].hash, data=b"state")
        await store.save_snapshot(snap)
        await store.set_run_status(run.run_id, "closed")
        await store.close()

        again = new_store()
        await again.open()
        try:
            assert await again.get_run(run.run_id) == msgspec.structs.replace(run, status="closed")
            assert await read_all(again, run.run_id, batch=64) == [rows[:64], rows[64:]]
            assert await again.last_row(run.run_id) == rows[-1]
            assert await again.latest_snapshot(run.run_id) == snap
            await again.append(run.run_id, [journal_row(101)])
            assert await again.last_row(run.run_id) == journal_row(101)
        finally:
            await again.close()

    async def test_concurrent_appends_to_different_runs(self, store: Store) -> None:
        runs = [run_info() for _ in range(4)]
        for run in runs:
            await store.create_run(run)

        async def write(run_id: str) -> None:
            for start in range(1, 200, 20):
                await store.append(run_id, [journal_row(s) for s in range(start, start + 20)])

        async with anyio.create_task_group() as tg:
            for run in runs:
                tg.start_soon(write, run.run_id)
        for run in runs:
            assert await read_all(store, run.run_id, batch=1000) == [
                [journal_row(s) for s in range(1, 201)]
            ]

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batches=batches_of_rows(), read_batch=st.integers(1, 50), after=st.integers(0, 60))
    async def test_random_batches_round_trip(
        self, store: Store, batches: Sequence[list[JournalRow]], read_batch: int, after: int
    ) -> None:
        run = run_info()
        await store.create_run(run)
        for batch in batches:
            await store.append(run.run_id, batch)
        rows = list(itertools.chain.from_iterable(batches))
        read = await read_all(store, run.run_id, batch=read_batch)
        assert all(0 < len(b) <= read_batch for b in read)
        assert list(itertools.chain.from_iterable(read)) == rows
        assert await store.last_row(run.run_id) == rows[-1]
        after_seq = rows[min(after, len(rows) - 1)].seq
        tail = await read_all(store, run.run_id, after_seq=after_seq, batch=read_batch)
        assert list(itertools.chain.from_iterable(tail)) == [r for r in rows if r.seq > after_seq]
