"""Two small bar strategies the benchmarks run beside the peers': null and EMA cross.

`../shared/peers/README.md` defines them: `null` subscribes to bars and does nothing (what the
engine costs per bar); `ema_cross` is long only, EMA 10/30 of closes (each seeded with the simple
mean of its first `n` closes, as backtrader and NautilusTrader seed theirs), 0.1 BTC market
orders: buy when fast > slow and flat, sell when fast < slow and long.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.data.messages import Bar
from agents.ml.trader import Trader, TraderConfig, TraderState


class NullStrategy(Trader):
    """Kind `null_strategy`: receive every bar of the instrument, do nothing."""

    Params = TraderConfig

    def __init__(self, params: TraderConfig | None = None) -> None:
        self.params = params or TraderConfig()
        self.state = TraderState()

    def on_start(self) -> None:
        super().on_start()
        self.ctx.subscribe(Bar, key=self.params.instrument)

    def on_bar(self, msg: Bar) -> None:
        pass


class EmaCrossConfig(TraderConfig, frozen=True, kw_only=True):
    """Params of kind `ema_cross`."""

    fast: int = 10
    slow: int = 30
    size: Decimal = Decimal("0.1")


class Ema(msgspec.Struct, kw_only=True):
    """An EMA seeded with the simple mean of its first `n` values."""

    n: int
    value: float | None = None
    seed: list[float] = msgspec.field(default_factory=list)

    def update(self, x: float, /) -> float | None:
        """Take the next value; return the EMA once `n` values are in."""
        if self.value is None:
            self.seed.append(x)
            if len(self.seed) == self.n:
                self.value = sum(self.seed) / self.n
                self.seed = []
            return self.value
        alpha = 2.0 / (self.n + 1)
        self.value += alpha * (x - self.value)
        return self.value


class EmaCrossState(TraderState, kw_only=True):
    """The trading state and both EMAs."""

    fast: Ema
    slow: Ema


class EmaCross(Trader):
    """Kind `ema_cross`: long-only EMA crossover with market orders."""

    Params = EmaCrossConfig
    params: EmaCrossConfig
    state: EmaCrossState

    def __init__(self, params: EmaCrossConfig | None = None) -> None:
        self.params = params or EmaCrossConfig()
        self.state = EmaCrossState(fast=Ema(n=self.params.fast), slow=Ema(n=self.params.slow))

    def on_start(self) -> None:
        super().on_start()
        self.ctx.subscribe(Bar, key=self.params.instrument)

    def on_bar(self, msg: Bar) -> None:
        st = self.state
        c = float(msg.close)
        f, s = st.fast.update(c), st.slow.update(c)
        if f is None or s is None or st.open:
            return  # warming up, or an order is on its way
        if f > s and st.position == 0:
            self.submit("buy", self.params.size)
        elif f < s and st.position > 0:
            self.submit("sell", st.position)
