"""Simulate a market for paper trading with no network: a mid path, its book top, and trades.

Kind `simulated_trades`. Every `interval_ms` the mid takes a GBM step and the actor publishes the
top of book (`Quote`, `spread_ticks` wide around the mid). Market orders arrive as a Poisson
process of rate `A` per second, each on its own timer (so each trade has its own time and is
handled alone); a trade is a buy or a sell with probability 1/2 and prints at a distance
`delta ~ Exp(k)` from the mid, above it for a buy, below for a sell. So the rate of trades that
reach `delta` or further is exactly `A exp(-k delta)`: the Avellaneda-Stoikov arrival intensity
the quoter's estimator fits (`A` counts both sides; a quote on one side is reached at half that).

All draws come from the actor's seeded `ctx.rng` on kernel timers, so a seed fixes the market in
the sim kernel, and the journal fixes it in a replay of a live run.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

import msgspec

from agents.data.gbm import next_price, quantize
from agents.data.messages import Quote, Trade
from runtime import Actor, ConfigBase, TimerFired
from runtime.config import NonNegativeFloat, PositiveFloat, PositiveInt

__all__ = ["SimulatedTrades", "SimulatedTradesConfig", "SimulatedTradesState"]

OPEN = "simulated_trades.open"
MID = "simulated_trades.mid"
TRADE = "simulated_trades.trade"
NS_PER_SEC = 1_000_000_000


class SimulatedTradesConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of kind `simulated_trades`: the mid's GBM, the book's spread, the order flow."""

    instrument: str = "BTC/USDT"
    s0: PositiveFloat = 50_000.0
    """Initial mid."""
    sigma: NonNegativeFloat = 0.6
    """Annualized volatility of the mid (GBM)."""
    mu: float = 0.0
    """Annualized drift of the mid."""
    interval_ms: PositiveInt = 100
    """Time between mid steps; each step publishes a `Quote`."""
    tick_size: Decimal = Decimal("0.01")
    spread_ticks: PositiveInt = 1
    """Width of the simulated book's best bid and offer, in ticks."""
    quote_size: Decimal = Decimal(1)
    """Size shown at the best bid and at the best offer."""
    A: PositiveFloat = 50.0
    """Market orders per second (both sides together): the intensity at `delta = 0`."""
    k: PositiveFloat = 0.5
    """Decay of the intensity per price unit: distances from the mid are `Exp(k)`, mean `1/k`."""
    size: Decimal = Decimal("0.001")
    """Size of every simulated trade."""

    def __post_init__(self) -> None:
        for name in ("tick_size", "quote_size", "size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")


class SimulatedTradesState(msgspec.Struct, kw_only=True):
    """The mid (a model value, float) and what was published."""

    mid: float
    quotes: int = 0
    trades: int = 0
    buys: int = 0


class SimulatedTrades(Actor):
    """Publish a GBM mid's book top every `interval_ms` and Poisson trades around it."""

    Params = SimulatedTradesConfig

    def __init__(self, params: SimulatedTradesConfig | None = None) -> None:
        self.params = p = params or SimulatedTradesConfig()
        self.state = SimulatedTradesState(mid=p.s0)
        self._dt_ns = p.interval_ms * 1_000_000

    def on_start(self) -> None:
        # The book at s0 on a timer at once, not from `on_start`: every subscriber has started
        # by then (the live kernel routes an `on_start` output only to actors started before).
        self.ctx.schedule(0, key=OPEN)
        self.ctx.schedule(self._dt_ns, key=MID, every=True)
        self._next_trade()

    def _next_trade(self) -> None:
        """Arm the next arrival: exponential waiting times make a Poisson process of rate A."""
        wait = self.ctx.rng.expovariate(self.params.A)
        self.ctx.schedule(max(1, round(wait * NS_PER_SEC)), key=TRADE)

    def on_timer(self, msg: TimerFired) -> None:
        if msg.key == MID:
            self._step()
        elif msg.key == OPEN:
            self._publish_book()
        elif msg.key == TRADE:
            self._trade()
            self._next_trade()

    def _step(self) -> None:
        p, st = self.params, self.state
        z = self.ctx.rng.gauss(0.0, 1.0)
        st.mid = next_price(st.mid, sigma=p.sigma, mu=p.mu, dt_ns=self._dt_ns, z=z)
        self._publish_book()

    def _publish_book(self) -> None:
        p, st = self.params, self.state
        half = p.tick_size * p.spread_ticks / 2
        bid = quantize(st.mid - float(half), p.tick_size)
        st.quotes += 1
        self.ctx.publish(
            Quote(
                instrument=p.instrument,
                bid=bid,
                bid_size=p.quote_size,
                ask=bid + p.tick_size * p.spread_ticks,
                ask_size=p.quote_size,
            )
        )

    def _trade(self) -> None:
        p, st, rng = self.params, self.state, self.ctx.rng
        side: Literal["buy", "sell"] = "buy" if rng.random() < 0.5 else "sell"
        delta = rng.expovariate(p.k)
        price = st.mid + delta if side == "buy" else st.mid - delta
        if not (math.isfinite(price) and price > 0):
            return
        st.trades += 1
        st.buys += side == "buy"
        self.ctx.publish(
            Trade(
                instrument=p.instrument,
                price=quantize(price, p.tick_size),
                size=p.size,
                side=side,
                trade_id=f"{self.ctx.name}-{st.trades}",
            )
        )
