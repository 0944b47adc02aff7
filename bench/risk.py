"""Measure the pre-trade gate's cost per order: every order pays it before it reaches a venue.

Figures (latency of one `RiskGate.on_intent` call, in µs, handler called directly with a stub
context, in this process; no kernel dispatch, journal or routing is included):

- `risk.check_p50_us`, `risk.check_p99_us`: the full path with every rule on (no-leverage with
  balances, tick/lot/min notional, max order qty and notional, inventory and exposure caps per
  instrument and in total, price band, stale-data guard, submit throttle, the default drawdown
  profile), on limit orders that pass them all, so each sample runs every check, takes its
  reservation and publishes `OrderApproved`. Baseline: the gate with no params (trading states
  only, the pre-#5 gate) on the same orders, samples interleaved with the full ones.
  Goal: p99 <= 20 µs (value); p50 held to the same bound.

Between samples, untimed: the approved order is canceled (so the book stays put and the caps
never bite), and every 100 orders fresh ticks (BTC/USDT, ETH/USDT) keep the marks from going stale.
"""

from __future__ import annotations

import gc
import time
from decimal import Decimal
from typing import Any

import msgspec

from agents.data.messages import Tick
from agents.execution.messages import OrderCanceled
from agents.risk.actor import RiskGate, RiskGateConfig
from agents.risk.messages import OrderApproved, OrderIntent, Side
from bench._measure import Figure, figure, percentile
from runtime import Envelope, Message

GOAL_P99_US = 20.0
STEP_NS = 2_000_000
"""Kernel time between two orders: 500 orders/s, under the throttle's 1,000/s."""

FULL = {
    "balances": {"sim": {"USDT": "100000000", "BTC": "1000", "ETH": "1000"}},
    "instruments": {
        "BTC/USDT": {
            "tick": "0.01",
            "lot": "0.00001",
            "min_notional": "5",
            "max_order_qty": "5",
            "max_order_notional": "500000",
            "max_inventory": "5000",
            "max_exposure": "500000000",
        }
    },
    "max_order_notional": "1000000",
    "max_exposure_total": "1000000000",
    "price_band_bps": "200",
    "stale_after_ms": 1000,
    "submit_rate": {"count": 1000, "window_ms": 1000},
    "modify_rate": {"count": 1000, "window_ms": 1000},
    "drawdown": "default",
}


class StubContext:
    """The part of `runtime.Context` the gate's handlers use, with publishes kept in a list."""

    __slots__ = ("current", "log", "name", "now", "out")

    def __init__(self) -> None:
        self.name = "risk"
        self.current: Envelope | None = None
        self.now = 0
        self.out: list[Message] = []
        self.log: Any = None

    def publish(self, msg: Message, /, *, corr: str | None = None) -> None:
        """Keep `msg`."""
        self.out.append(msg)

    def subscribe(self, mtype: type[Message], /, *, key: Any = None) -> None:
        """Accept the subscription; nothing routes here."""


def build(params: dict[str, Any] | None, /) -> tuple[RiskGate, StubContext]:
    """Return a started gate with `params` (None: no params) and its stub context."""
    gate = RiskGate(msgspec.convert(params, RiskGateConfig) if params is not None else None)
    ctx = StubContext()
    gate.ctx = ctx  # type: ignore[assignment]  # the stub has what the handlers use
    gate.on_start()
    return gate, ctx


def orders(n: int, /) -> list[OrderIntent]:
    """Return `n` conforming limit orders around a mark of 50,000, buys and sells alternating."""
    out = []
    for i in range(n):
        side: Side = "buy" if i % 2 == 0 else "sell"
        offset = Decimal(i % 50) / 10
        price = Decimal(50_000) + (offset if side == "sell" else -offset)
        out.append(
            OrderIntent(
                client_id=f"c{i}",
                strategy="mm",
                venue="sim",
                instrument="BTC/USDT",
                side=side,
                qty=Decimal("0.01") + Decimal(i % 7) / 1000,
                price=price,
            )
        )
    return out


def sample(
    gates: dict[str, tuple[RiskGate, StubContext]], n: int, /, *, start_ns: int = 0
) -> dict[str, list[float]]:
    """Time `on_intent` for `n` orders on every gate, interleaved; return µs per order.

    Kernel time runs from `start_ns` in steps of `STEP_NS` (it must not go back between calls:
    the throttle's windows remember it).
    """
    samples: dict[str, list[float]] = {name: [] for name in gates}
    intents = orders(n)
    clock = time.perf_counter_ns
    for i, msg in enumerate(intents):
        ts = start_ns + (i + 1) * STEP_NS
        for name, (gate, ctx) in gates.items():
            if i % 100 == 0:
                ctx.current = Envelope(0, ts, "feed", msg)
                ctx.now = ts
                gate.on_tick(Tick(instrument="BTC/USDT", price=Decimal(50_000), size=Decimal(1)))
                gate.on_tick(Tick(instrument="ETH/USDT", price=Decimal(3_000), size=Decimal(1)))
            ctx.current = Envelope(i + 1, ts, "strategy", msg)
            ctx.now = ts
            t0 = clock()
            gate.on_intent(msg)
            t1 = clock()
            samples[name].append((t1 - t0) / 1_000)
            verdict = ctx.out.pop()
            # Invariant: every sample timed the whole path: all rules ran and approved.
            assert isinstance(verdict, OrderApproved), verdict
            ctx.out.clear()
            gate.on_canceled(
                OrderCanceled(
                    client_id=msg.client_id,
                    strategy="mm",
                    venue="sim",
                    instrument="BTC/USDT",
                    leaves_qty=msg.qty,
                )
            )
    return samples


def run(quick: bool) -> list[Figure]:
    """Measure the gate's per-order latency, full and trading-states-only."""
    n = 5_000 if quick else 50_000
    gates = {"full": build(FULL), "states": build(None)}
    warm = 1_000
    sample(gates, warm)  # warm-up: caches, specializations
    gc.collect()
    got = sample(gates, n, start_ns=warm * STEP_NS)
    note = f"{n:,} orders, handler called directly with a stub context; baseline: states only"
    return [
        figure(
            f"risk.check_p{q}_us",
            percentile(got["full"], q),
            "µs",
            baseline=percentile(got["states"], q),
            goal=GOAL_P99_US,
            goal_on="value",
            better="lower",
            note=note,
        )
        for q in (50, 99)
    ]
