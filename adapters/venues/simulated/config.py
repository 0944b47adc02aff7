"""Configure the simulated venue: fees, latency, the fill model, partial fills, relaying data."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from runtime.config import ConfigBase, NonNegativeFloat, PositiveFloat

FillModel = Literal["touch", "through", "poisson"]


class PoissonFillConfig(ConfigBase, frozen=True, kw_only=True):
    """The Avellaneda-Stoikov fill model: a quote `delta` from the mid fills with probability
    `A * exp(-k * delta) * dt` per market data step (capped at 1)."""

    A: PositiveFloat = 140.0
    k: PositiveFloat = 1.5
    dt: PositiveFloat = 0.005
    """Model time per market data step (the paper's `dt`)."""


class SimulatedVenueConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of kind `simulated_venue` (the actor's name is the venue's name in orders)."""

    maker_fee: Decimal = Decimal("0.001")
    """Fee rate of a fill that rested (the order was not marketable when it arrived)."""
    taker_fee: Decimal = Decimal("0.001")
    """Fee rate of a fill that took liquidity (a market order, or a limit marketable on arrival)."""
    fee_quantum: Decimal = Decimal("0.00000001")
    """Fees are rounded half-even to a multiple of this, in the quote asset."""
    latency_ms: NonNegativeFloat = 0.0
    """Time from an order's submission to when it can match; a bar matches only orders that were
    active when it opened (an order that arrives mid-bar fills from the next bar on)."""
    fill_model: FillModel = "touch"
    """`touch`: a resting limit fills when a later bar (trade, quote) reaches its price;
    `through`: only when the market trades strictly past it; `poisson`: the AS fill model."""
    poisson: PoissonFillConfig = PoissonFillConfig()
    volume_share: Decimal | None = None
    """At most this fraction of a bar's (trade's, quote level's) volume fills our orders; the rest
    of an order rests and fills later (partial fills). Unset: no cap."""
    lot: Decimal = Decimal("0.00000001")
    """Partial fill quantities are rounded down to a multiple of this."""
    relay: bool = False
    """Receive market data point-to-point (the feed's `to = "<this venue>"`), match it, then
    publish it: strategies see a bar's fills before the bar, as on a venue that reports fills
    before its next market data. Otherwise the venue subscribes to market data like anyone."""

    def __post_init__(self) -> None:
        for name in ("maker_fee", "taker_fee"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"`{name}` must be in [0, 1), got {value}")
        for name in ("fee_quantum", "lot"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        share = self.volume_share
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"`volume_share` must be in (0, 1], got {share}")
