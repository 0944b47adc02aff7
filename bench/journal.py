"""Measure what a durable journal costs the sim kernel: the design says it is not the bottleneck.

Figure (a message is one delivery; see `bench._chain`):

- `journal.sqlite_durable.msgs_per_s`: the sim kernel's 4-actor chain with a `full` journal whose
  rows reach a real SQLite file (`SqliteStore`, `fsync` on: every batch is synced before the
  next one is handed over) through `PortalSink`, which pipelines one batch in flight while the
  kernel computes the next. The clock stops when the last row is durable. Baseline: the same chain
  without a journal, measured in the same run. Goal: ratio >= 0.5.

The store's own append rate is the `stores` benchmark's business (`bench/stores.py`).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

import anyio.from_thread

from adapters.stores.sqlite import SqliteStore
from bench._chain import DELIVERIES_PER_INPUT, add_chain
from bench._measure import Figure, bench_dir, best_rates, figure
from bench.kernel_sim import drive, kernel_rate
from runtime import Journal, RunInfo, SimKernel
from runtime._app import PortalSink

GOAL_RATIO = 0.5


class DurableChain:
    """Run the 4-chain into one SQLite store, a new run per measurement."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, store: SqliteStore) -> None:
        self._portal = portal
        self._store = store
        self._runs = itertools.count(1)

    def rate(self, inputs: int, /) -> float:
        """Return the deliveries per second of a fresh journaled kernel, durable at the end."""
        run_id = f"bench-journal-{next(self._runs)}"
        self._portal.call(
            self._store.create_run,
            RunInfo(
                run_id=run_id, kernel="sim", mode="backtest", level="full", seed=0, config="{}"
            ),
        )
        sink = PortalSink(self._portal, self._store, run_id)
        kernel = SimKernel(journal=Journal(level="full"), sink=sink, run_id=run_id)
        last = add_chain(kernel)
        kernel.start()
        kernel.run(ready_only=True)
        t0 = time.perf_counter()
        drive(kernel, inputs)
        kernel.flush()
        sink.sync()
        elapsed = time.perf_counter() - t0
        assert last.count == inputs, (last.count, inputs)
        return inputs * DELIVERIES_PER_INPUT / elapsed


def run(quick: bool) -> list[Figure]:
    """Measure the durable-journal figure against the same kernel without a journal."""
    inputs = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="kinetic-bench-", dir=bench_dir()) as tmp:
        store = SqliteStore(Path(tmp) / "journal.db", fsync=True)
        with anyio.from_thread.start_blocking_portal() as portal:
            portal.call(store.open)
            try:
                chain = DurableChain(portal, store)
                best = best_rates(
                    {
                        "plain": lambda: kernel_rate(inputs),
                        "sqlite": lambda: chain.rate(inputs),
                    },
                    rounds=3 if quick else 5,
                )
            finally:
                portal.call(store.close)
    return [
        figure(
            "journal.sqlite_durable.msgs_per_s",
            best["sqlite"],
            "msgs/s",
            baseline=best["plain"],
            goal=GOAL_RATIO,
            goal_on="ratio",
            better="higher",
        )
    ]
