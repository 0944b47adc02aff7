"""A test strategy for the live daemon: orders through risk -> execution -> the Kraken venue.

`KrakenPinger` (kind `tests.integration.kraken_live.actors:KrakenPinger`) submits a limit order
every `interval_ms`, buys and sells in turn at `base_price` plus a seeded offset (some cross the
market and take, some rest and fill as the test moves the price, some never fill), and asks
execution to cancel its oldest open order every `cancel_every` orders. Deterministic: the same
journal re-derives the same orders, so a crashed and recovered run replays as one.
"""

from __future__ import annotations

from decimal import Decimal

from agents.execution.messages import RequestCancel
from agents.ml.trader import Trader, TraderConfig, TraderState
from runtime import TimerFired


class KrakenPingerConfig(TraderConfig, frozen=True, kw_only=True):
    """How often and how much to trade, around which price."""

    interval_ms: int = 20
    qty: Decimal = Decimal("0.01")
    base_price: Decimal = Decimal("50000")
    spread: int = 200
    """Offsets are drawn in [-spread, spread] (whole units of the quote)."""
    cancel_every: int = 4


class KrakenPinger(Trader):
    """Submit an order every `interval_ms`; cancel the oldest open one now and then."""

    Params = KrakenPingerConfig
    params: KrakenPingerConfig

    def __init__(self, params: KrakenPingerConfig | None = None) -> None:
        self.params = params or KrakenPingerConfig()
        self.state = TraderState()

    def on_start(self) -> None:
        super().on_start()
        self.ctx.schedule(self.params.interval_ms * 1_000_000, key="order", every=True)

    def on_timer(self, msg: TimerFired) -> None:
        p = self.params
        st = self.state
        n = st.next_id
        offset = Decimal(self.ctx.rng.randint(-p.spread, p.spread))
        self.submit("buy" if n % 2 else "sell", p.qty, p.base_price + offset)
        if n % p.cancel_every == 0 and st.open:
            oldest = next(iter(st.open))
            self.ctx.send(p.execution, RequestCancel(client_id=oldest, strategy=self.ctx.name))
