"""Configure the pre-trade gate: balances, instrument rules, limits, throttles, drawdown tiers.

Every limit is off until configured, so a gate with no params enforces the trading states only
(what the daemon's default profile runs). No-leverage is the exception: it is on as soon as
`balances` are given, since a gate that knows the money must never approve more than exists.

The config also resolves, once per instrument, the rules an order of it meets
(`InstrumentRules`): per-instrument values where given, the gate-wide ones otherwise. The hot
path then reads one frozen struct instead of two dicts and a fallback per rule.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Literal

import msgspec

from agents.risk.states import SEVERITY
from runtime import ConfigBase, TradingState
from runtime.config import PositiveInt

ProfileName = Literal["default", "tight"]
RateScope = Literal["global", "venue", "instrument", "strategy", "actor"]


def _positive(name: str, value: Decimal | None, /, *, zero: bool = False) -> None:
    """Raise in msgspec's words unless `value` is None or a finite number > 0 (>= 0 if `zero`)."""
    if value is None:
        return
    if not value.is_finite() or value < 0 or (value == 0 and not zero):
        raise ValueError(f"`{name}` must be {'>=' if zero else '>'} 0, got {value}")


class InstrumentRiskConfig(ConfigBase, frozen=True, kw_only=True):
    """Rules of one instrument: its assets, its venue's increments, and its own limits."""

    base: str | None = None
    """The asset bought and sold; by default the part of the symbol before `/`."""
    quote: str | None = None
    """The asset prices are in; by default the part of the symbol after `/`."""
    tick: Decimal | None = None
    """A limit price must be a multiple of this (code `TICK`)."""
    lot: Decimal | None = None
    """A quantity must be a multiple of this (code `LOT`)."""
    min_notional: Decimal | None = None
    """An order's qty x price must reach this, in the quote asset (code `MIN_NOTIONAL`)."""
    max_order_qty: Decimal | None = None
    """The largest quantity of one order (code `MAX_ORDER_QTY`)."""
    max_order_notional: Decimal | None = None
    """The largest qty x price of one order, in the quote asset; overrides the gate-wide one."""
    max_inventory: Decimal | None = None
    """The most base asset held over all venues, open buys included (code `MAX_INVENTORY`)."""
    max_exposure: Decimal | None = None
    """The most (held + open buys + this order) x price, in the quote asset
    (code `EXPOSURE_INSTRUMENT`)."""

    def __post_init__(self) -> None:
        for name in ("tick", "lot", "max_order_qty", "max_order_notional", "max_inventory"):
            _positive(name, getattr(self, name))
        _positive("min_notional", self.min_notional, zero=True)
        _positive("max_exposure", self.max_exposure, zero=True)


class RateLimitConfig(ConfigBase, frozen=True, kw_only=True):
    """At most `count` approved orders in any window of `window_ms`, per key of `per`."""

    count: PositiveInt
    window_ms: PositiveInt
    per: RateScope = "strategy"
    """What one window counts: every order (`global`), or those of one venue, instrument,
    strategy or submitting actor."""


class DrawdownTierConfig(ConfigBase, frozen=True, kw_only=True):
    """What holds once equity is `at_pct` percent below its peak."""

    at_pct: Decimal
    size_multiplier: Decimal = Decimal(1)
    """Scales `max_order_qty` and `max_order_notional` (code `DRAWDOWN_SIZE`)."""
    state: TradingState = "ACTIVE"
    """The global trading state the tier sets (never loosening a stricter one)."""

    def __post_init__(self) -> None:
        _positive("at_pct", self.at_pct)
        if self.at_pct >= 100:
            raise ValueError(f"`at_pct` must be < 100, got {self.at_pct}")
        _positive("size_multiplier", self.size_multiplier)
        if self.size_multiplier > 1:
            raise ValueError(f"`size_multiplier` must be <= 1, got {self.size_multiplier}")


DRAWDOWN_PROFILES: dict[str, tuple[DrawdownTierConfig, ...]] = {
    "default": (
        DrawdownTierConfig(at_pct=Decimal(3), size_multiplier=Decimal("0.5")),
        DrawdownTierConfig(at_pct=Decimal(5), size_multiplier=Decimal("0.5"), state="REDUCING"),
        DrawdownTierConfig(at_pct=Decimal(8), size_multiplier=Decimal("0.5"), state="HALTED"),
    ),
    "tight": (
        DrawdownTierConfig(at_pct=Decimal(2), size_multiplier=Decimal("0.5")),
        DrawdownTierConfig(at_pct=Decimal(3), size_multiplier=Decimal("0.25"), state="REDUCING"),
        DrawdownTierConfig(at_pct=Decimal(5), size_multiplier=Decimal("0.25"), state="HALTED"),
    ),
}
"""The named drawdown profiles (`drawdown = "default"`)."""


class InstrumentRules(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The rules one instrument's orders meet, gate-wide values filled in; None is off."""

    base: str | None
    quote: str | None
    tick: Decimal | None
    lot: Decimal | None
    min_notional: Decimal | None
    max_order_qty: Decimal | None
    max_order_notional: Decimal | None
    max_inventory: Decimal | None
    max_exposure: Decimal | None
    values_orders: bool
    """Whether a rule needs the order's value, so that a market order needs a mark."""
    sizes: bool = False
    """Whether a rule on the order's own size applies (max qty, min or max notional)."""


class RiskGateConfig(ConfigBase, frozen=True, kw_only=True):
    """Parameters of the pre-trade gate (kind `risk_gate`); see docs/risk.md."""

    paper_only: bool = True
    """The paper-only guard at the start of a run (DESIGN.md §4: on by default)."""
    balances: dict[str, dict[str, Decimal]] = msgspec.field(default_factory=dict)
    """Starting balances per venue and asset (`{ sim = { USDT = "1000000", BTC = "10" } }`).
    Given, they turn on no-leverage (codes `NO_LEVERAGE_CASH`, `NO_LEVERAGE_POSITION`)."""
    instruments: dict[str, InstrumentRiskConfig] = msgspec.field(default_factory=dict)
    """Rules per instrument symbol (`{ "BTC/USDT" = { tick = "0.01", lot = "0.00001" } }`)."""
    equity_asset: str = "USDT"
    """The asset equity and total exposure are measured in; other assets are valued at the mark
    of `<asset>/<equity_asset>`."""
    fee_bound_bps: Decimal = Decimal(50)
    """The most a fill may cost in fees, in basis points of its notional: a buy reserves
    qty x price x (1 + this)."""
    market_buffer_bps: Decimal = Decimal(100)
    """A market buy reserves at the last mark raised by this many basis points."""
    max_order_notional: Decimal | None = None
    """The largest qty x price of one order, in its quote asset (code `MAX_ORDER_NOTIONAL`)."""
    max_exposure_total: Decimal | None = None
    """The most held + open buys + this order over all assets, valued in `equity_asset`
    (code `EXPOSURE_TOTAL`)."""
    price_band_bps: Decimal | None = None
    """A limit price may stray at most this many basis points from the last mark
    (code `PRICE_BAND`)."""
    stale_after_ms: PositiveInt | None = None
    """Deny orders of an instrument whose last market data is older than this (`STALE_DATA`)."""
    submit_rate: RateLimitConfig | None = None
    """Throttle new orders (code `RATE_SUBMIT`)."""
    modify_rate: RateLimitConfig | None = None
    """Throttle replacing orders, intents with `replaces` set (code `RATE_MODIFY`)."""
    drawdown: ProfileName | list[DrawdownTierConfig] | None = None
    """Drawdown tiers: a profile name or a list of tiers; needs `balances`."""

    def __post_init__(self) -> None:
        for venue, assets in self.balances.items():
            for asset, amount in assets.items():
                _positive(f"balances.{venue}.{asset}", amount, zero=True)
        _positive("fee_bound_bps", self.fee_bound_bps, zero=True)
        _positive("market_buffer_bps", self.market_buffer_bps, zero=True)
        _positive("max_order_notional", self.max_order_notional)
        _positive("max_exposure_total", self.max_exposure_total, zero=True)
        _positive("price_band_bps", self.price_band_bps)
        tiers = self.drawdown_tiers
        if tiers and not self.balances:
            raise ValueError("`drawdown` needs `balances` to measure equity")
        for lower, upper in itertools.pairwise(tiers):
            if upper.at_pct <= lower.at_pct:
                raise ValueError(
                    f"`drawdown` tiers must rise, got {upper.at_pct} after {lower.at_pct}"
                )
            if upper.size_multiplier > lower.size_multiplier:
                raise ValueError("`drawdown` tiers must not raise `size_multiplier`")
            if SEVERITY[upper.state] < SEVERITY[lower.state]:
                raise ValueError(f"`drawdown` tiers must not loosen `state`, got {upper.state}")
        sized = self.max_order_notional is not None or any(
            i.max_order_qty is not None or i.max_order_notional is not None
            for i in self.instruments.values()
        )
        if any(t.size_multiplier < 1 for t in tiers) and not sized:
            raise ValueError(
                "`drawdown` scales order size but no `max_order_notional` or `max_order_qty` is set"
            )

    @property
    def drawdown_tiers(self) -> tuple[DrawdownTierConfig, ...]:
        """Return the drawdown tiers in force, lowest first (empty when off)."""
        if self.drawdown is None:
            return ()
        if isinstance(self.drawdown, str):
            return DRAWDOWN_PROFILES[self.drawdown]
        return tuple(self.drawdown)

    def rules_for(self, instrument: str, /) -> InstrumentRules:
        """Return the rules of `instrument`: its own values, else the gate-wide ones."""
        own = self.instruments.get(instrument) or InstrumentRiskConfig()
        base, sep, quote = instrument.partition("/")
        quote = quote.partition(":")[0]
        max_order_notional = (
            own.max_order_notional
            if own.max_order_notional is not None
            else self.max_order_notional
        )
        return InstrumentRules(
            base=own.base or (base if sep and base else None),
            quote=own.quote or (quote if sep and quote else None),
            tick=own.tick,
            lot=own.lot,
            min_notional=own.min_notional,
            max_order_qty=own.max_order_qty,
            max_order_notional=max_order_notional,
            max_inventory=own.max_inventory,
            max_exposure=own.max_exposure,
            sizes=own.max_order_qty is not None
            or own.min_notional is not None
            or max_order_notional is not None,
            values_orders=bool(self.balances)
            or self.max_exposure_total is not None
            or self.max_order_notional is not None
            or own.max_order_notional is not None
            or own.min_notional is not None
            or own.max_exposure is not None,
        )
