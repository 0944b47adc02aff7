"""Measure the sim kernel's dispatch rate: it bounds how fast a backtest or a replay can go.

Figures (a message is one delivery; see `bench._chain`):

- `kernel_sim.msgs_per_s`: the 4-actor chain without a journal. Goal: value >= 1,000,000.
- `kernel_sim.journal_full.msgs_per_s`: the same with a `full` journal (every envelope encoded,
  hashed and handed to a sink that discards it). Goal: value >= 400,000.

Baseline of both: a single-thread deque dispatcher running the same 4-hop chain over plain Python
objects (a slotted message class, one method call per delivery): what the kernel costs over the
least code that moves messages in order.

Inputs enter in chunks of 1,000 through `emit_input`, each chunk followed by `run(ready_only=True)`;
the baseline is fed the same way.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from bench._chain import DELIVERIES_PER_INPUT, FEED, HOPS, Ping, add_chain
from bench._measure import Figure, best_rates, figure
from runtime import Journal, JournalRow, SimKernel

CHUNK = 1_000
GOAL_MSGS_PER_S = 1_000_000
GOAL_JOURNAL_MSGS_PER_S = 400_000


class NullSink:
    """Discard journal rows: the kernel pays for encoding and hashing them, not for storing them."""

    def __init__(self) -> None:
        self.rows = 0

    def write(self, rows: Sequence[JournalRow], /) -> None:
        """Count `rows` and drop them."""
        self.rows += len(rows)

    def snapshot(self, seq: int, head: bytes, data: bytes, /) -> None:
        """Drop the snapshot."""


def drive(kernel: SimKernel, inputs: int, /) -> None:
    """Feed `inputs` pings to the chain's head in chunks, running the kernel after each chunk."""
    emit = kernel.emit_input
    run = kernel.run
    head = HOPS[0]
    for start in range(0, inputs, CHUNK):
        for i in range(start, min(start + CHUNK, inputs)):
            emit(FEED, Ping(n=i), dst=head)
        run(ready_only=True)


def kernel_rate(inputs: int, /, *, sink: Any = None) -> float:
    """Return the deliveries per second of a fresh 4-chain sim kernel (journaled with a sink)."""
    kernel = SimKernel(journal=Journal(level="full") if sink is not None else None, sink=sink)
    last = add_chain(kernel)
    kernel.start()
    kernel.run(ready_only=True)  # whatever starting emits stays out of the timing
    t0 = time.perf_counter()
    drive(kernel, inputs)
    kernel.flush()
    elapsed = time.perf_counter() - t0
    # Invariant: every input reached the end of the chain, so the count is of real deliveries.
    assert last.count == inputs, (last.count, inputs)
    return inputs * DELIVERIES_PER_INPUT / elapsed


class _Msg:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


class _Hop:
    __slots__ = ("nxt", "post")

    def __init__(self, nxt: Any, post: Callable[[tuple[Any, _Msg]], None]) -> None:
        self.nxt = nxt
        self.post = post

    def handle(self, msg: _Msg) -> None:
        self.post((self.nxt, _Msg(msg.n)))


class _End:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def handle(self, msg: _Msg) -> None:
        self.count += 1


def deque_rate(inputs: int, /) -> float:
    """Return the deliveries per second of the deque dispatcher over the same chain."""
    queue: deque[tuple[Any, _Msg]] = deque()
    post = queue.append
    take = queue.popleft
    end = _End()
    head: Any = end
    for _ in HOPS[1:]:
        head = _Hop(head, post)
    t0 = time.perf_counter()
    n = 0
    for start in range(0, inputs, CHUNK):
        for i in range(start, min(start + CHUNK, inputs)):
            post((head, _Msg(i)))
        while queue:
            actor, msg = take()
            actor.handle(msg)
            n += 1
    elapsed = time.perf_counter() - t0
    assert n == inputs * DELIVERIES_PER_INPUT, (n, inputs)
    assert end.count == inputs, (end.count, inputs)
    return n / elapsed


def run(quick: bool) -> list[Figure]:
    """Measure both sim kernel figures against the deque dispatcher."""
    inputs = 25_000 if quick else 250_000
    best = best_rates(
        {
            "deque": lambda: deque_rate(inputs),
            "kernel": lambda: kernel_rate(inputs),
            "journal": lambda: kernel_rate(inputs, sink=NullSink()),
        },
        rounds=3 if quick else 5,
    )
    return [
        figure(
            "kernel_sim.msgs_per_s",
            best["kernel"],
            "msgs/s",
            baseline=best["deque"],
            goal=GOAL_MSGS_PER_S,
            goal_on="value",
            better="higher",
        ),
        figure(
            "kernel_sim.journal_full.msgs_per_s",
            best["journal"],
            "msgs/s",
            baseline=best["deque"],
            goal=GOAL_JOURNAL_MSGS_PER_S,
            goal_on="value",
            better="higher",
        ),
    ]
