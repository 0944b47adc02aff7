"""Measure the live tick -> order decision: data -> ml -> risk -> execution -> paper venue.

One tick at a time through a `LiveKernel` journaling every envelope (level `full`, in-memory
store: encoding and hash chaining included, no disk): the tick enters as an input, a strategy
(`TickTrader`) turns it into an `OrderIntent`, the risk gate runs every pre-trade rule (the
profile of `bench/risk.py`: balances, increments, caps, price band, stale data, throttles,
drawdown) and approves, execution emits the write-ahead `SubmitOrder`, and the paper venue (the
simulated venue) receives it. The clock stops when the venue has the order.

Figures:
- `tick_to_order.p50_us`, `tick_to_order.p99_us`: inject to venue, µs. Goals: p50 <= 100,
  p99 <= 250 (value). Baseline: a bare 4-task anyio chain (`bench.kernel_live.AnyioChain`, the
  same one `kernel_live` uses), one message at a time, samples interleaved with ours.
"""

from __future__ import annotations

import functools
import time
from decimal import Decimal
from typing import Any

import anyio
import msgspec

from adapters.venues.simulated import SimulatedVenue
from agents.data.messages import Tick
from agents.execution.actor import Execution
from agents.execution.messages import SubmitOrder
from agents.risk.actor import RiskGate, RiskGateConfig
from agents.risk.messages import OrderIntent
from bench._measure import Figure, daemon_loop, figure, percentile
from bench.kernel_live import MAILBOX, AnyioChain, _Msg
from bench.risk import FULL
from runtime import Actor, ActorSpec, Journal, LiveKernel, MemoryStore, RunInfo

GOAL_P50_US = 100.0
GOAL_P99_US = 250.0
PRICE = Decimal(50_000)


class TickTrader(Actor):
    """On every tick, bid 0.01 BTC 5 below it (resting: nothing fills, nothing is skipped)."""

    def __init__(self) -> None:
        self.n = 0

    def on_start(self) -> None:
        self.ctx.subscribe(Tick)

    def on_tick(self, msg: Tick) -> None:
        self.n += 1
        self.ctx.send(
            "risk",
            OrderIntent(client_id=f"t{self.n}", strategy="tick", venue="paper",
                        instrument=msg.instrument, side="buy", qty=Decimal("0.01"),
                        price=msg.price - 5),
        )  # fmt: skip


class ProbeVenue(SimulatedVenue):
    """The simulated venue, telling the benchmark when an order arrived."""

    arrived: Any = None

    def on_submit(self, msg: SubmitOrder) -> None:
        super().on_submit(msg)
        if self.arrived is not None:
            self.arrived()

    def on_tick(self, msg: Tick) -> None:
        """Match nothing on ticks: the venue's matching is not part of the decision, and the
        bench's resting bids (one per tick, never filled) would make it grow with each sample."""


async def _kernel() -> tuple[LiveKernel, ProbeVenue]:
    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="bench", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    kernel = LiveKernel(store=store, journal=Journal(level="full"), run_id="bench",
                        mailbox_size=MAILBOX)  # fmt: skip
    params = {**FULL, "balances": {"paper": {"USDT": "1000000000000", "BTC": "1000"}},
              "submit_rate": {"count": 10_000_000, "window_ms": 1000}}  # fmt: skip
    gate = msgspec.convert(params, RiskGateConfig)
    venue = ProbeVenue()
    kernel.add_actor(ActorSpec("strategy", TickTrader))
    kernel.add_actor(ActorSpec("risk", lambda: RiskGate(gate), role="risk"))
    kernel.add_actor(ActorSpec("execution", Execution, role="execution"))
    kernel.add_actor(ActorSpec("paper", lambda: venue))
    return kernel, venue


async def latencies(samples: int, warmup: int) -> tuple[list[float], list[float]]:
    """Return (tick -> order µs, bare chain µs), taken alternately."""
    kernel, venue = await _kernel()
    chain = AnyioChain(MAILBOX)
    ours: list[float] = []
    bare: list[float] = []
    perf_ns = time.perf_counter_ns
    async with anyio.create_task_group() as tg:
        started = anyio.Event()
        tg.start_soon(functools.partial(kernel.run, started=started.set))
        await started.wait()
        async with anyio.create_task_group() as side:
            side.start_soon(chain.serve)
            for i in range(warmup + samples):
                got = anyio.Event()
                venue.arrived = got.set
                tick = Tick(instrument="BTC/USDT", price=PRICE, size=Decimal(1))
                t0 = perf_ns()
                await kernel.inject("feed", tick)
                await got.wait()
                t1 = perf_ns()
                got = anyio.Event()
                chain.target = chain.count + 1
                chain.arrived = got.set
                t2 = perf_ns()
                await chain.put(_Msg(i))
                await got.wait()
                t3 = perf_ns()
                if i >= warmup:
                    ours.append((t1 - t0) / 1e3)
                    bare.append((t3 - t2) / 1e3)
            side.cancel_scope.cancel()
        kernel.request_stop("benchmark done")
    return ours, bare


def run(quick: bool) -> list[Figure]:
    """Time ticks to orders through the live kernel against the bare anyio chain."""
    ours, bare = anyio.run(latencies, 500 if quick else 3_000, 100 if quick else 300,
                           backend_options=daemon_loop())  # fmt: skip
    note = f"{len(ours):,} ticks, each through strategy, risk (every rule), execution, venue"
    return [
        figure("tick_to_order.p50_us", percentile(ours, 50), "µs",
               baseline=percentile(bare, 50), goal=GOAL_P50_US, goal_on="value",
               better="lower", note=note),
        figure("tick_to_order.p99_us", percentile(ours, 99), "µs",
               baseline=percentile(bare, 99), goal=GOAL_P99_US, goal_on="value",
               better="lower"),
    ]  # fmt: skip
