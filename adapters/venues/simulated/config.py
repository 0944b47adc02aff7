"""Configure the simulated venue: fees, latency, the fill model, partial fills, relaying data,
balances, and the faults a test injects (lost orders, dropped or late acknowledgements)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from runtime.config import ConfigBase, NonNegativeFloat, PositiveFloat, PositiveInt

FillModel = Literal["touch", "through", "poisson"]
Probability = Annotated[float, Meta(ge=0, le=1)]


class VenueFaultsConfig(ConfigBase, frozen=True, kw_only=True):
    """Make the venue misbehave as networks and venues do, each with a probability per message
    (drawn from the venue's seeded rng, so a run misbehaves the same way every time).

    A lost command never reaches the venue; a dropped answer is never sent; a late one is sent
    `ack_delay_ms` later; a duplicated acknowledgement is sent twice. Fills are never lost.
    """

    lose_submit: Probability = 0.0
    """A `SubmitOrder` that never arrives (the venue will answer `not_found` for it)."""
    drop_ack: Probability = 0.0
    """An `OrderAccepted` never sent."""
    delay_ack: Probability = 0.0
    """An `OrderAccepted`, `OrderCanceled` or `CancelRejected` sent `ack_delay_ms` late."""
    ack_delay_ms: NonNegativeFloat = 10_000.0
    duplicate_ack: Probability = 0.0
    """An `OrderAccepted` sent twice."""
    lose_cancel: Probability = 0.0
    """A `CancelOrder` that never arrives."""
    drop_cancel_ack: Probability = 0.0
    """An `OrderCanceled` or `CancelRejected` never sent."""
    lose_query: Probability = 0.0
    """A `QueryOrder` never answered."""


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
    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """Starting account balances per asset; when set the venue keeps them from its fills (fees
    included) and reports them in a `VenueSnapshot`. Unset: it reports none."""
    history: PositiveInt = 1_000
    """How many ended orders the venue remembers at least, for status queries (older ones are
    forgotten; a query about one is answered `unknown`, as from a venue whose history expired)."""
    faults: VenueFaultsConfig | None = None
    """Injected faults for tests (none by default)."""

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
