"""Measure what the live kernel costs over a bare anyio pipeline and a thread-per-actor framework.

The daemon runs every actor as an anyio task with a bounded mailbox. These figures check that the
kernel's bookkeeping (envelopes, seqs, supervision, backpressure) stays a small factor over the
floor that design can reach, and well ahead of pykka's thread-per-actor model.

Figures (a message is one delivery; see `bench._chain`); the kernel runs without a journal
(`journal=None`) unless named otherwise:

- `kernel_live.msgs_per_s.vs_anyio`: the saturated 4-actor chain. Baseline: 4 anyio tasks joined
  by memory object streams (buffer 1,024, like the mailboxes), taking `receive_nowait` and
  `send_nowait` and awaiting only when empty or full. Goal: ratio >= 0.7.
- `kernel_live.msgs_per_s.vs_pykka`: the same kernel figure. Baseline: 4 pykka `ThreadingActor`s
  forwarding with `tell()`. Goal: ratio >= 3.
- `kernel_live.latency_p50_us`, `kernel_live.latency_p99_us`: one message at a time, from inject
  to its arrival at the last actor. Baseline: the anyio chain measured the same way, samples
  interleaved with the kernel's. Goal: ratio <= 2.
- `kernel_live.journal_full.msgs_per_s`: the saturated chain with a `full` journal into a
  `MemoryStore`. Baseline: the kernel without a journal. Goal (set by this benchmark, the same as
  the `journal` benchmark's): ratio >= 0.5.

Saturated runs inject every input from one driver task (`await kernel.inject`, which suspends only
when the first mailbox is full) and stop the clock when the last input reaches the last actor.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pykka
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bench._chain import DELIVERIES_PER_INPUT, FEED, HOPS, Last, Ping, add_chain
from bench._measure import Figure, best_rates_async, daemon_loop, figure, percentile
from runtime import Journal, LiveKernel, MemoryStore, RunInfo

MAILBOX = 1_024
GOAL_VS_ANYIO = 0.7
GOAL_VS_PYKKA = 3.0
GOAL_LATENCY = 2.0
GOAL_JOURNAL = 0.5


class _Msg:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


# -- the live kernel --------------------------------------------------------------------------


async def _live_kernel(*, journaled: bool) -> tuple[LiveKernel, Last]:
    store = None
    if journaled:
        store = MemoryStore()
        await store.create_run(
            RunInfo(run_id="bench", kernel="live", mode="paper", level="full", seed=0, config="{}")
        )
    kernel = LiveKernel(
        store=store,
        journal=Journal(level="full") if journaled else None,
        run_id="bench",
        mailbox_size=MAILBOX,
    )
    return kernel, add_chain(kernel)


async def live_rate(inputs: int, /, *, journaled: bool) -> float:
    """Return the deliveries per second of a fresh live kernel's saturated chain."""
    kernel, last = await _live_kernel(journaled=journaled)
    done = anyio.Event()
    last.target = inputs
    last.arrived = done.set
    inject = kernel.inject
    head = HOPS[0]
    async with anyio.create_task_group() as tg:
        started = anyio.Event()
        tg.start_soon(functools.partial(kernel.run, started=started.set))
        await started.wait()
        t0 = time.perf_counter()
        for i in range(inputs):
            await inject(FEED, Ping(n=i), dst=head)
        await done.wait()
        if journaled:
            await kernel.flush()
        elapsed = time.perf_counter() - t0
        kernel.request_stop("benchmark done")
    return inputs * DELIVERIES_PER_INPUT / elapsed


# -- the bare anyio chain ---------------------------------------------------------------------


class AnyioChain:
    """Forward messages through 4 tasks joined by memory object streams: the floor of the design."""

    def __init__(self, size: int) -> None:
        pairs = [anyio.create_memory_object_stream[_Msg](size) for _ in HOPS]
        self._sends: list[MemoryObjectSendStream[_Msg]] = [s for s, _ in pairs]
        self._receives: list[MemoryObjectReceiveStream[_Msg]] = [r for _, r in pairs]
        self.count = 0
        self.target = 0
        self.arrived: Callable[[], object] | None = None

    async def serve(self) -> None:
        """Run the 4 tasks until cancelled. A cancellation point."""
        try:
            async with anyio.create_task_group() as tg:
                for i in range(len(HOPS) - 1):
                    tg.start_soon(self._hop, self._receives[i], self._sends[i + 1])
                tg.start_soon(self._end, self._receives[-1])
        finally:
            for tx in self._sends:
                tx.close()
            for rx in self._receives:
                rx.close()

    async def put(self, msg: _Msg, /) -> None:
        """Send `msg` into the first hop, waiting only when its buffer is full."""
        try:
            self._sends[0].send_nowait(msg)
        except anyio.WouldBlock:
            await self._sends[0].send(msg)

    @staticmethod
    async def _hop(rx: MemoryObjectReceiveStream[_Msg], tx: MemoryObjectSendStream[_Msg]) -> None:
        receive_nowait = rx.receive_nowait
        send_nowait = tx.send_nowait
        while True:
            try:
                msg = receive_nowait()
            except anyio.WouldBlock:
                msg = await rx.receive()
            out = _Msg(msg.n)
            try:
                send_nowait(out)
            except anyio.WouldBlock:
                await tx.send(out)

    async def _end(self, rx: MemoryObjectReceiveStream[_Msg]) -> None:
        receive_nowait = rx.receive_nowait
        while True:
            try:
                receive_nowait()
            except anyio.WouldBlock:
                await rx.receive()
            self.count += 1
            if self.count == self.target and self.arrived is not None:
                self.arrived()


async def anyio_rate(inputs: int, /) -> float:
    """Return the deliveries per second of a fresh bare anyio chain, saturated."""
    chain = AnyioChain(MAILBOX)
    done = anyio.Event()
    chain.target = inputs
    chain.arrived = done.set
    put = chain.put
    async with anyio.create_task_group() as tg:
        tg.start_soon(chain.serve)
        await anyio.lowlevel.checkpoint()
        t0 = time.perf_counter()
        for i in range(inputs):
            await put(_Msg(i))
        await done.wait()
        elapsed = time.perf_counter() - t0
        tg.cancel_scope.cancel()
    return inputs * DELIVERIES_PER_INPUT / elapsed


# -- pykka ------------------------------------------------------------------------------------


class _PykkaHop(pykka.ThreadingActor):
    def __init__(self, nxt: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.nxt = nxt

    def on_receive(self, message: Any) -> None:
        self.nxt.tell(_Msg(message.n))


class _PykkaEnd(pykka.ThreadingActor):
    def __init__(self, target: int, done: threading.Event) -> None:
        super().__init__()
        self.count = 0
        self.target = target
        self.done = done

    def on_receive(self, message: Any) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


def pykka_rate(inputs: int, /) -> float:
    """Return the deliveries per second of 4 pykka threading actors forwarding with `tell()`."""
    done = threading.Event()
    refs: list[pykka.ActorRef[Any]] = [_PykkaEnd.start(inputs, done)]
    for _ in HOPS[1:]:
        refs.append(_PykkaHop.start(refs[-1]))
    head = refs[-1]
    try:
        t0 = time.perf_counter()
        for i in range(inputs):
            head.tell(_Msg(i))
        if not done.wait(timeout=600):
            raise TimeoutError("pykka chain did not deliver every message")
        elapsed = time.perf_counter() - t0
    finally:
        for ref in reversed(refs):
            ref.stop()
    return inputs * DELIVERIES_PER_INPUT / elapsed


async def _pykka_case(inputs: int) -> float:
    # Blocking the loop is harmless here: nothing else runs between the interleaved cases.
    return pykka_rate(inputs)


# -- latency ----------------------------------------------------------------------------------


async def latencies(samples: int, /, *, warmup: int) -> tuple[list[float], list[float]]:
    """Return one-message round trips in µs (kernel, anyio chain), taken alternately."""
    kernel, last = await _live_kernel(journaled=False)
    chain = AnyioChain(MAILBOX)
    live_us: list[float] = []
    bare_us: list[float] = []
    head = HOPS[0]
    perf_ns = time.perf_counter_ns
    async with anyio.create_task_group() as tg:
        started = anyio.Event()
        tg.start_soon(functools.partial(kernel.run, started=started.set))
        await started.wait()
        async with anyio.create_task_group() as bare:
            bare.start_soon(chain.serve)
            for i in range(warmup + samples):
                arrived = anyio.Event()
                last.target = last.count + 1
                last.arrived = arrived.set
                t0 = perf_ns()
                await kernel.inject(FEED, Ping(n=i), dst=head)
                await arrived.wait()
                t1 = perf_ns()
                arrived = anyio.Event()
                chain.target = chain.count + 1
                chain.arrived = arrived.set
                t2 = perf_ns()
                await chain.put(_Msg(i))
                await arrived.wait()
                t3 = perf_ns()
                if i >= warmup:
                    live_us.append((t1 - t0) / 1e3)
                    bare_us.append((t3 - t2) / 1e3)
            bare.cancel_scope.cancel()
        kernel.request_stop("benchmark done")
    return live_us, bare_us


# -- figures ----------------------------------------------------------------------------------


async def _measure(quick: bool) -> list[Figure]:
    inputs = 20_000 if quick else 100_000
    pykka_inputs = 5_000 if quick else 25_000
    cases: dict[str, Callable[[], Awaitable[float]]] = {
        "anyio": lambda: anyio_rate(inputs),
        "kernel": lambda: live_rate(inputs, journaled=False),
        "journal": lambda: live_rate(inputs, journaled=True),
        "pykka": lambda: _pykka_case(pykka_inputs),
    }
    best = await best_rates_async(cases, rounds=3 if quick else 5)
    live_us, bare_us = await latencies(500 if quick else 2_000, warmup=100 if quick else 200)
    figures = [
        figure(
            "kernel_live.msgs_per_s.vs_anyio",
            best["kernel"],
            "msgs/s",
            baseline=best["anyio"],
            goal=GOAL_VS_ANYIO,
            goal_on="ratio",
            better="higher",
        ),
        figure(
            "kernel_live.msgs_per_s.vs_pykka",
            best["kernel"],
            "msgs/s",
            baseline=best["pykka"],
            goal=GOAL_VS_PYKKA,
            goal_on="ratio",
            better="higher",
        ),
    ]
    for q in (50, 99):
        figures.append(
            figure(
                f"kernel_live.latency_p{q}_us",
                percentile(live_us, q),
                "µs",
                baseline=percentile(bare_us, q),
                goal=GOAL_LATENCY,
                goal_on="ratio",
                better="lower",
            )
        )
    figures.append(
        figure(
            "kernel_live.journal_full.msgs_per_s",
            best["journal"],
            "msgs/s",
            baseline=best["kernel"],
            goal=GOAL_JOURNAL,
            goal_on="ratio",
            better="higher",
        )
    )
    return figures


def run(quick: bool) -> list[Figure]:
    """Measure the live kernel's throughput and latency against their baselines."""
    figures: list[Figure] = anyio.run(_measure, quick, backend_options=daemon_loop())
    return figures
