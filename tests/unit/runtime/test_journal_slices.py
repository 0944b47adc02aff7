"""The journal hashed in slices: the same chain and rows, and a writer that lets the loop turn."""

from __future__ import annotations

import itertools

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import ActorSpec, Envelope, Journal, LiveKernel, MemoryStore, RunInfo, verify_rows
from runtime._live import CHAIN_SLICE
from tests.unit.runtime.toy import Forwarder, Ping, Sink

# Each step appends `n` envelopes (inputs when `inp`), then chains `k` of the queue (0: none)
# or takes a batch of at most `k` rows (None: take everything).
Step = tuple[int, bool, str, int | None]
steps = st.lists(
    st.tuples(
        st.integers(0, 40),
        st.booleans(),
        st.sampled_from(["append", "chain", "take"]),
        st.one_of(st.none(), st.integers(1, 30)),
    ),
    max_size=30,
)


def _run(level: str, plan: list[Step], /) -> tuple[list[object], bytes]:
    journal = Journal(level=level, checkpoint_every=7)  # type: ignore[arg-type]
    rows: list[object] = []
    seq = 0
    for n, inp, op, k in plan:
        for _ in range(n):
            seq += 1
            journal.append(Envelope(seq, seq, "src", Ping(n=seq), "", "", 0, inp))
        if op == "chain" and k is not None:
            journal.chain(k)
        elif op == "take":
            rows += journal.take_batch(k)
    rows += journal.take_batch()
    return rows, journal.head


@settings(max_examples=150, deadline=None)
@given(plan=steps, level=st.sampled_from(["full", "inputs"]))
def test_slicing_changes_neither_the_chain_nor_the_rows(plan: list[Step], level: str) -> None:
    sliced = _run(level, plan)
    whole = _run(level, [(n, inp, "append", None) for n, inp, _, _ in plan])
    assert sliced == whole
    if level == "full":
        assert verify_rows("r", sliced[0]).head == sliced[1]  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(plan=steps, level=st.sampled_from(["full", "inputs"]), at=st.integers(0, 200))
def test_a_mark_gives_the_head_at_its_seq_however_the_chain_is_sliced(
    plan: list[Step], level: str, at: int
) -> None:
    """A snapshot's head comes from `mark`: it must be the head of the chain up to that seq."""
    total = sum(n for n, *_ in plan)
    if total == 0:
        return
    mark_at = min(at, total - 1) + 1  # a seq that will be appended
    journal = Journal(level=level, checkpoint_every=7)  # type: ignore[arg-type]
    reference = Journal(level=level, checkpoint_every=7)  # type: ignore[arg-type]
    seq = 0
    marked_once = False
    for n, inp, op, k in plan:
        for _ in range(n):
            seq += 1
            env = Envelope(seq, seq, "src", Ping(n=seq), "", "", 0, inp)
            journal.append(env)
            if seq <= mark_at:
                reference.append(env)
            if seq == mark_at and not marked_once:
                journal.mark(mark_at)
                marked_once = True
        if op == "chain" and k is not None:
            journal.chain(k)
        elif op == "take":
            journal.take_batch(k)
    journal.take_batch()
    assert journal.marked == (mark_at, reference.head)


@pytest.mark.anyio
async def test_the_writer_hashes_a_backlog_in_slices_and_lets_the_loop_turn() -> None:
    store = MemoryStore()
    run = RunInfo(run_id="r", kernel="live", mode="paper", level="full", seed=0, config="{}")
    await store.create_run(run)
    kernel = LiveKernel(store=store, journal=Journal(level="full"), run_id="r")
    backlog = 20 * CHAIN_SLICE
    for i in range(backlog):
        kernel.emit_input("feed", Ping(n=i))
    turns = 0
    done = anyio.Event()

    async def other_task() -> None:  # a request that wants the loop meanwhile
        nonlocal turns
        while not done.is_set():
            await anyio.lowlevel.checkpoint()
            turns += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(other_task)
        await anyio.lowlevel.checkpoint()
        before = turns
        await kernel.flush()
        done.set()
    # One turn per slice at least; before slicing, the whole backlog was one step (no turn).
    assert turns - before >= backlog // CHAIN_SLICE - 1
    assert kernel.journal is not None and kernel.journal.durable_seq == backlog
    stored = [row async for page in store.read("r") for row in page]
    assert [r.seq for r in stored] == list(range(1, backlog + 1))
    assert verify_rows("r", stored).head == kernel.journal.head


async def _forwarding_kernel(
    flush_interval_ms: float, /, *, hops: int
) -> tuple[MemoryStore, LiveKernel, Journal, Sink]:
    """A journaled live kernel: `hops` forwarders from `a` to a sink, into a memory store."""
    store = MemoryStore()
    run = RunInfo(run_id="r", kernel="live", mode="paper", level="full", seed=0, config="{}")
    await store.create_run(run)
    kernel = LiveKernel(
        store=store,
        journal=Journal(level="full"),
        run_id="r",
        flush_interval_ms=flush_interval_ms,
    )
    names = [*"ab"[:hops], "sink"]
    for name, nxt in itertools.pairwise(names):
        kernel.add_actor(ActorSpec(name, lambda nxt=nxt: Forwarder(nxt)))
    sink = Sink()
    kernel.add_actor(ActorSpec("sink", lambda: sink))
    assert kernel.journal is not None
    return store, kernel, kernel.journal, sink


@pytest.mark.anyio
async def test_a_quiet_live_kernel_hashes_its_backlog_before_the_writer_wakes() -> None:
    """One message at a time (a tick to an order), the hashing happens when the kernel goes
    quiet, not in the writer's next batch, where it would hold up the next message."""
    store, kernel, journal, sink = await _forwarding_kernel(60_000, hops=2)
    async with anyio.create_task_group() as tg:
        started = anyio.Event()
        tg.start_soon(lambda: kernel.run(started=started.set))
        await started.wait()
        while journal.buffered:  # the start-up rows, written at once
            await anyio.lowlevel.checkpoint()
        for _ in range(5):  # the writer goes back to its (long) wait
            await anyio.lowlevel.checkpoint()
        written = journal.durable_seq
        for n in range(3):
            await kernel.inject("feed", Ping(n=n), dst="a")
            while len(sink.got) <= n:
                await anyio.lowlevel.checkpoint()
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            assert journal.appended == 0  # every envelope so far is hashed ...
            assert journal.durable_seq == written < journal.last_seq  # ... and none written yet
        kernel.request_stop("test done")
    stored = [row async for page in store.read("r") for row in page]
    assert verify_rows("r", stored).head == journal.head
    assert [msg.n for *_, msg in sink.got] == [2, 3, 4]


@pytest.mark.anyio
async def test_the_writer_commits_a_trickle_once_per_flush_interval() -> None:
    """Group commit: right after a batch, a message's rows wait for the next interval instead
    of a writer step of their own between the hops of the next message; the interval comes."""
    store, kernel, journal, sink = await _forwarding_kernel(200, hops=1)
    async with anyio.create_task_group() as tg:
        started = anyio.Event()
        tg.start_soon(lambda: kernel.run(started=started.set))
        await started.wait()
        first = await kernel.inject("feed", Ping(n=0), dst="a")
        await kernel.wait_durable(first.seq)  # a kick: written at once
        second = await kernel.inject("feed", Ping(n=1), dst="a")
        while len(sink.got) < 2:
            await anyio.lowlevel.checkpoint()
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert first.seq <= journal.durable_seq < second.seq
        with anyio.fail_after(5):  # ... until the interval's kick
            while journal.durable_seq < journal.last_seq:
                await anyio.sleep(0.01)
        kernel.request_stop("test done")
    stored = [row async for page in store.read("r") for row in page]
    assert verify_rows("r", stored).head == journal.head


def test_a_mark_at_the_chained_head_is_noted_at_once_and_one_behind_it_is_refused() -> None:
    journal = Journal(level="full")
    for seq in (1, 2, 3):
        journal.append(Envelope(seq, seq, "src", Ping(n=seq), "", "", 0, True))
    head = journal.head  # chains all three
    journal.mark(3)
    assert journal.marked == (3, head)
    with pytest.raises(ValueError, match="already at 3"):
        journal.mark(2)
