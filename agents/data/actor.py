"""Wire the data agents to the bus: a seeded simulated ticker and a bar builder.

`SimulatedTicker` draws its shocks from the actor's seeded rng on its own timer, so it runs the
same in the live kernel (paper demo), the sim kernel (backtest) and replay. `BarBuilder` turns any
tick stream into bars.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.data.bars import OpenBar, add_tick
from agents.data.gbm import next_price, quantize
from agents.data.messages import Tick
from runtime import Actor, ConfigBase, TimerFired


class SimulatedTickerConfig(ConfigBase, frozen=True, kw_only=True):
    """Parameters of a simulated GBM ticker."""

    instrument: str = "BTC/USDT"
    interval_ms: int = msgspec.field(default=100)
    s0: float = 50_000.0
    sigma: float = 0.6
    """Annualized volatility."""
    mu: float = 0.0
    """Annualized drift."""
    tick_size: Decimal = Decimal("0.01")
    size: Decimal = Decimal("0.001")
    seed_offset: int = 0


class TickerState(msgspec.Struct, kw_only=True):
    """The ticker's price (a model value, float) and how many ticks it emitted."""

    price: float
    ticks: int = 0


class SimulatedTicker(Actor):
    """Publish a GBM tick every `interval_ms` of kernel time."""

    Params = SimulatedTickerConfig

    def __init__(self, params: SimulatedTickerConfig | None = None) -> None:
        self.params = params or SimulatedTickerConfig()
        if self.params.interval_ms <= 0:
            raise ValueError(f"`interval_ms` must be > 0, got {self.params.interval_ms}")
        self.state = TickerState(price=self.params.s0)
        self._dt_ns = self.params.interval_ms * 1_000_000

    def on_start(self) -> None:
        self.ctx.schedule(self._dt_ns, key="tick", every=True)

    def on_timer(self, msg: TimerFired) -> None:
        p = self.params
        z = self.ctx.rng.gauss(0.0, 1.0)
        st = self.state
        st.price = next_price(st.price, sigma=p.sigma, mu=p.mu, dt_ns=self._dt_ns, z=z)
        st.ticks += 1
        self.ctx.publish(
            Tick(instrument=p.instrument, price=quantize(st.price, p.tick_size), size=p.size)
        )


class BarBuilderConfig(ConfigBase, frozen=True, kw_only=True):
    """Parameters of a bar builder."""

    instrument: str = "BTC/USDT"
    bar_secs: int = 1


class BarBuilderState(msgspec.Struct, kw_only=True):
    """The bar being built and how many bars were emitted."""

    open: OpenBar | None = None
    bars: int = 0


class BarBuilder(Actor):
    """Aggregate the ticks of one instrument into time bars and publish each completed bar."""

    Params = BarBuilderConfig

    def __init__(self, params: BarBuilderConfig | None = None) -> None:
        self.params = params or BarBuilderConfig()
        if self.params.bar_secs <= 0:
            raise ValueError(f"`bar_secs` must be > 0, got {self.params.bar_secs}")
        self.state = BarBuilderState()
        self._bar_ns = self.params.bar_secs * 1_000_000_000

    def on_start(self) -> None:
        self.ctx.subscribe(Tick, key=self.params.instrument)

    def on_tick(self, msg: Tick) -> None:
        st = self.state
        st.open, done = add_tick(st.open, msg, self.ctx.now, self._bar_ns)
        if done is not None:
            st.bars += 1
            self.ctx.publish(done)
