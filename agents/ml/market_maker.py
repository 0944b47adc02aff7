"""Wire the bar market maker: every bar, cancel the last quotes, then quote around the reservation.

Kind `bar_market_maker`. The quoting model is `bar_quotes.BarQuoter`; this actor only moves
messages: bars in (keyed by its instrument), `RequestCancel`s and `OrderIntent`s out, fills in
through `Trader`. With a simulated venue in `relay` mode the fills of a bar arrive before the
bar, so the inventory in each quote counts them, as in the peers' engines.
"""

from __future__ import annotations

import msgspec

from agents.data.messages import Bar
from agents.ml.bar_quotes import BarQuoter, BarQuoterConfig, BarQuoterState
from agents.ml.trader import Trader, TraderConfig, TraderState


class BarMarketMakerConfig(TraderConfig, frozen=True, kw_only=True):
    """Params of kind `bar_market_maker`: where to trade, and the quoting model."""

    model: BarQuoterConfig = BarQuoterConfig()


class BarMarketMakerState(TraderState, kw_only=True):
    """The trading state and the model's recursion."""

    model: BarQuoterState = msgspec.field(default_factory=BarQuoterState)


class BarMarketMaker(Trader):
    """Quote one instrument on every bar; size and caps from the model's config."""

    Params = BarMarketMakerConfig
    params: BarMarketMakerConfig
    state: BarMarketMakerState

    def __init__(self, params: BarMarketMakerConfig | None = None) -> None:
        self.params = params or BarMarketMakerConfig()
        self.state = BarMarketMakerState()
        self._quoter = BarQuoter(self.params.model, self.state.model)

    def restore(self, data: bytes, /) -> None:
        super().restore(data)
        self._quoter = BarQuoter(self.params.model, self.state.model)

    def on_start(self) -> None:
        super().on_start()
        self.ctx.subscribe(Bar, key=self.params.instrument)

    def on_bar(self, msg: Bar) -> None:
        if self.state.open:
            self.cancel_all()
        bid, ask = self._quoter.update(msg.close, self.state.position)
        size = self.params.model.size
        if bid is not None:
            self.submit("buy", size, bid)
        if ask is not None:
            self.submit("sell", size, ask)
