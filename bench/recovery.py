"""Measure how long the daemon takes to come back after a crash: restart time is downtime.

Figure:

- `recovery.seconds`: `runtime._recovery.recover` on a fresh `LiveKernel` over a SQLite journal
  of about 1,000,000 events (quick: 100,000) of a live-kind run of the 4-actor chain with
  stateful hops and a snapshot every 100,000 events (quick: 10,000). The run stops just short of
  its next snapshot, so recovery loads the latest snapshot and re-derives the longest tail it can
  meet: about one snapshot interval. Best of 3 recoveries, each on a fresh kernel. Goal: value
  <= 10 s for 1,000,000 events, scaled to the events journaled (quick: <= 1 s).
  Baseline: reading and decoding every row of the run from the store (best of 3).

The journal is written (untimed) by a sim kernel through `PortalSink`, in the format a live run
writes. A saturated `LiveKernel` cannot write it today: its writer saves no snapshot while rows
keep coming, and stopping it can lose the batch the writer holds (see docs/benchmarks.md).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread
from anyio.from_thread import BlockingPortal

from adapters.stores.sqlite import SqliteStore
from bench._chain import DELIVERIES_PER_INPUT, FEED, HOPS, Ping, add_chain
from bench._measure import Figure, bench_dir, figure
from bench.kernel_sim import CHUNK
from runtime import CODEC, Journal, JournalRow, LiveKernel, RunInfo, SimKernel
from runtime._app import PortalSink
from runtime._recovery import recover

RUN_ID = "bench-recovery"
GOAL_SECONDS_PER_MILLION = 10.0
ROUNDS = 3


def _kernel(store: SqliteStore, /, *, snapshot_every: int) -> LiveKernel:
    kernel = LiveKernel(
        store=store,
        journal=Journal(level="full"),
        run_id=RUN_ID,
        snapshot_every=snapshot_every,
    )
    add_chain(kernel, stateful=True)
    return kernel


class _SnapshotWatch:
    """Pass rows and snapshots on to a sink, remembering the seq of the last snapshot."""

    def __init__(self, sink: PortalSink) -> None:
        self.sink = sink
        self.last = 0

    def write(self, rows: Sequence[JournalRow], /) -> None:
        """Hand `rows` on."""
        self.sink.write(rows)

    def snapshot(self, seq: int, head: bytes, data: bytes, /) -> None:
        """Hand the snapshot on and remember its seq."""
        self.sink.snapshot(seq, head, data)
        self.last = seq


def build(
    portal: BlockingPortal, store: SqliteStore, events: int, /, *, snapshot_every: int
) -> None:
    """Journal a run of about `events` envelopes that stops just short of its next snapshot.

    A sim kernel writes it, through the same `PortalSink` a backtest uses: the rows and snapshots
    have the format a live run writes, and the run is recorded as a live one.
    """
    portal.call(
        store.create_run,
        RunInfo(run_id=RUN_ID, kernel="live", mode="paper", level="full", seed=0, config="{}"),
    )
    sink = PortalSink(portal, store, RUN_ID)
    watch = _SnapshotWatch(sink)
    kernel = SimKernel(
        journal=Journal(level="full"), sink=watch, run_id=RUN_ID, snapshot_every=snapshot_every
    )
    last = add_chain(kernel, stateful=True)
    kernel.start()
    chunk_events = CHUNK * DELIVERIES_PER_INPUT
    inputs = 0
    while True:
        next_snapshot = watch.last + snapshot_every
        # Stop before the chunk that would reach the next snapshot, once that one is the last.
        if next_snapshot >= events and kernel.seq + chunk_events + 1 >= next_snapshot:
            break
        for i in range(inputs, inputs + CHUNK):
            kernel.emit_input(FEED, Ping(n=i), dst=HOPS[0])
        kernel.run(ready_only=True)
        inputs += CHUNK
    kernel.stop("benchmark journal written")
    sink.sync()
    assert last.count == inputs, (last.count, inputs)


async def recover_once(store: SqliteStore, /, *, snapshot_every: int) -> tuple[float, int, int]:
    """Recover a fresh kernel; return the seconds taken, the snapshot seq and the last seq."""
    kernel = _kernel(store, snapshot_every=snapshot_every)
    t0 = time.perf_counter()
    report = await recover(kernel, store, RUN_ID)
    elapsed = time.perf_counter() - t0
    # Invariant: recovery replayed the tail and the actors reproduced it (it raises otherwise).
    assert report.divergence is None, report
    assert report.replayed > 0, report
    return elapsed, report.snapshot_seq, report.last_seq


async def read_all(store: SqliteStore, /) -> tuple[float, int]:
    """Read and decode every row of the run; return the seconds taken and the rows read."""
    decode = CODEC.decode
    rows = 0
    t0 = time.perf_counter()
    async for batch in store.read(RUN_ID):
        for row in batch:
            if row.kind != "ck":
                decode(row.data)
        rows += len(batch)
    return time.perf_counter() - t0, rows


async def _measure(quick: bool) -> list[Figure]:
    events = 100_000 if quick else 1_000_000
    snapshot_every = events // 10
    with tempfile.TemporaryDirectory(prefix="kinetic-bench-", dir=bench_dir()) as tmp:
        store = SqliteStore(Path(tmp) / "recovery.db", fsync=True)
        await store.open()
        try:
            async with BlockingPortal() as portal:
                await anyio.to_thread.run_sync(
                    lambda: build(portal, store, events, snapshot_every=snapshot_every)
                )
            best = baseline = float("inf")
            snapshot_seq = last_seq = rows = 0
            await read_all(store)  # warm the page cache, as a restart right after a crash finds it
            for _ in range(ROUNDS):
                seconds, snapshot_seq, last_seq = await recover_once(
                    store, snapshot_every=snapshot_every
                )
                best = min(best, seconds)
                seconds, rows = await read_all(store)
                baseline = min(baseline, seconds)
        finally:
            await store.close()
    assert snapshot_seq > 0, snapshot_seq
    assert rows == last_seq, (rows, last_seq)
    return [
        figure(
            "recovery.seconds",
            best,
            "s",
            baseline=baseline,
            goal=round(GOAL_SECONDS_PER_MILLION * last_seq / 1_000_000, 3),
            goal_on="value",
            better="lower",
            note=f"{last_seq:,} events, snapshot at seq {snapshot_seq:,}, "
            f"tail {last_seq - snapshot_seq:,}",
        )
    ]


def run(quick: bool) -> list[Figure]:
    """Build the journal, then time recovery against reading it."""
    figures: list[Figure] = anyio.run(_measure, quick)
    return figures
