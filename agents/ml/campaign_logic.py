"""Decide a directional campaign bar by bar: the signal, the level held, and the order to send.

The campaign strategy (`agents.ml.campaign`) is long only on spot. Its pure logic lives here so
it can be read and property-tested without a kernel:

- **Signal** (`CampaignSignal`): trend strength times momentum in units of volatility,
  `s = ER_N * ln(p_t / p_{t-N}) / (sigma * sqrt(N))`, smoothed by an EMA. `ER_N` is Kaufman's
  efficiency ratio (`features.EfficiencyRatio`, 1 for a straight line, ~0 for noise),
  `ln(p_t/p_{t-N})` the momentum (`features.Momentum`), `sigma` the per-bar EWMA volatility
  (`features.EwmaVol`). A clean, fast rise scores high; a choppy or falling market scores <= 0.
- **Levels** (`next_level`): a campaign opens when `s >= entry_strength` and remembers `s` at
  entry. The ratio `r = s / s_entry` then sets how much of the campaign's size is held: all of it
  while `r` stays above the first scale-out step; each step below scales out to a smaller
  fraction; climbing back above a step plus `reentry_band` scales back in; `r < exit_ratio` ends
  the campaign. No fixed holding window: the campaign lasts as long as the signal holds.
- **Sizing** (`campaign_size`, `order_for`): the campaign's size targets `risk_per_trade` of
  equity per one-sigma move over `risk_horizon_bars` (volatility scaling), capped by
  `max_exposure` of equity and `max_qty`. Orders are marketable limits on the tick grid, in whole
  lots, capped per order and by the free cash with the gate's fee reserve, so the strategy never
  asks for more than the risk gate's no-leverage rule allows and never sells more than it holds.

Features and the signal run in float64 (DESIGN.md §2); quantities and prices leave as exact
`Decimal`s on the instrument's grid.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

import msgspec

from agents.ml.features import EfficiencyRatio, EwmaVol, EwmaVolState, Momentum, WindowState
from runtime import ConfigBase
from runtime.config import PositiveInt

Side = Literal["buy", "sell"]
ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10_000)


class ScaleOutStep(ConfigBase, frozen=True, kw_only=True):
    """Below `ratio` x the entry strength, hold `fraction` of the campaign's size."""

    ratio: float
    fraction: Decimal


class CampaignModelConfig(ConfigBase, frozen=True, kw_only=True):
    """The campaign model: signal windows, entry and exit thresholds, sizing and the grid."""

    momentum_bars: PositiveInt = 60
    """Bars of the momentum `ln(p_t / p_{t-N})` (and of its volatility scaling)."""
    efficiency_bars: PositiveInt = 60
    """Bars of the efficiency ratio (trend strength)."""
    vol_lam: float = 0.99
    """EWMA decay of squared 1-bar log returns (0.99: a memory of about 100 bars)."""
    vol_min_periods: PositiveInt = 60
    """Returns to see before the volatility, hence the signal, is trusted."""
    smooth_bars: PositiveInt = 5
    """EMA length smoothing the raw signal (1: none)."""
    entry_strength: float = 0.8
    """Open a campaign when the signal reaches this."""
    scale_out: list[ScaleOutStep] = msgspec.field(
        default_factory=lambda: [
            ScaleOutStep(ratio=0.8, fraction=Decimal("0.6")),
            ScaleOutStep(ratio=0.6, fraction=Decimal("0.3")),
        ]
    )
    """Partial exits: falling ratios, falling fractions held."""
    exit_ratio: float = 0.3
    """End the campaign when the signal falls below this x its entry strength."""
    reentry_band: float = 0.05
    """Scale back in one step when the ratio climbs this far above that step's `ratio`."""
    risk_per_trade: float = 0.004
    """Equity fraction a one-sigma move over `risk_horizon_bars` may cost at full size."""
    risk_horizon_bars: PositiveInt = 60
    """The horizon of that sigma: per-bar sigma x sqrt(this)."""
    max_exposure: Decimal = Decimal("0.95")
    """The most of equity a campaign's full size may be worth at entry."""
    max_qty: Decimal | None = None
    """The largest campaign size, base units (unset: no cap but exposure and cash)."""
    max_order_notional: Decimal | None = None
    """The largest qty x price of one order (set it to the gate's `max_order_notional`); a
    drawdown tier's `size_multiplier` scales it. Larger moves take several bars."""
    slippage_bps: Decimal = Decimal(20)
    """A buy's limit sits this far above the close, a sell's below: marketable at the next open
    unless the market gaps further (then it rests one bar and is cancelled)."""
    fee_reserve_bps: Decimal = Decimal(50)
    """Cash a buy keeps back for its fee; at least the gate's `fee_bound_bps`."""
    tick: Decimal = Decimal("0.01")
    """The price grid."""
    lot: Decimal = Decimal("0.00001")
    """The quantity grid."""
    min_notional: Decimal = Decimal(5)
    """The smallest order worth sending, in the quote asset (the venue's minimum)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.vol_lam < 1.0:
            raise ValueError(f"`vol_lam` must be in (0, 1), got {self.vol_lam}")
        for name in ("entry_strength", "risk_per_trade"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"`{name}` must be finite and > 0, got {value}")
        if not 0.0 < self.exit_ratio < 1.0:
            raise ValueError(f"`exit_ratio` must be in (0, 1), got {self.exit_ratio}")
        if self.reentry_band < 0.0:
            raise ValueError(f"`reentry_band` must be >= 0, got {self.reentry_band}")
        ratio, fraction = math.inf, _ONE
        for step in self.scale_out:
            if not self.exit_ratio < step.ratio < ratio:
                raise ValueError(
                    f"`scale_out` ratios must fall, each above `exit_ratio`, got {step.ratio}"
                )
            if not ZERO < step.fraction < fraction:
                raise ValueError(
                    f"`scale_out` fractions must fall within (0, 1), got {step.fraction}"
                )
            ratio, fraction = step.ratio, step.fraction
        if not ZERO < self.max_exposure <= _ONE:
            raise ValueError(f"`max_exposure` must be in (0, 1], got {self.max_exposure}")
        for name in ("max_qty", "max_order_notional", "tick", "lot"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"`{name}` must be > 0, got {value}")
        for name in ("slippage_bps", "fee_reserve_bps", "min_notional"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}")


# -- the signal -------------------------------------------------------------------------------


class CampaignSignalState(msgspec.Struct, frozen=True, kw_only=True):
    """Hold a `CampaignSignal`: its features' snapshots and the smoothing EMA."""

    vol: EwmaVolState
    momentum: WindowState
    efficiency: WindowState
    ema: float | None = None
    sigma: float | None = None


class CampaignSignal:
    """Turn closes into the smoothed trend-momentum signal (None until every feature is warm)."""

    __slots__ = ("_alpha", "_efficiency", "_momentum", "_root_n", "_vol", "ema", "sigma")

    def __init__(
        self, params: CampaignModelConfig, state: CampaignSignalState | None = None, /
    ) -> None:
        self._alpha = 2.0 / (params.smooth_bars + 1)
        self._root_n = math.sqrt(params.momentum_bars)
        if state is None:
            self._vol = EwmaVol(lam=params.vol_lam, min_periods=params.vol_min_periods)
            self._momentum = Momentum(window=params.momentum_bars)
            self._efficiency = EfficiencyRatio(window=params.efficiency_bars)
            self.ema: float | None = None
            self.sigma: float | None = None
        else:
            self._vol = EwmaVol.restore(state.vol)
            self._momentum = Momentum.restore(state.momentum)
            self._efficiency = EfficiencyRatio.restore(state.efficiency)
            self.ema, self.sigma = state.ema, state.sigma

    def update(self, close: float, /) -> float | None:
        """Take the next close; return the smoothed signal once the features are warm."""
        sigma = self._vol.update(close)
        mom = self._momentum.update(close)
        er = self._efficiency.update(close)
        self.sigma = sigma
        if sigma is None or mom is None or er is None:
            return None
        raw = 0.0 if sigma == 0.0 else er * mom / (sigma * self._root_n)
        ema = self.ema
        self.ema = raw if ema is None else ema + self._alpha * (raw - ema)
        return self.ema

    def snapshot(self) -> CampaignSignalState:
        """Return the features' and the EMA's state as a frozen struct."""
        return CampaignSignalState(
            vol=self._vol.snapshot(),
            momentum=self._momentum.snapshot(),
            efficiency=self._efficiency.snapshot(),
            ema=self.ema,
            sigma=self.sigma,
        )


# -- levels -----------------------------------------------------------------------------------


def next_level(level: int, ratio: float, params: CampaignModelConfig, /) -> int | None:
    """Return the level to hold at `ratio` (0 = the full size), or None to end the campaign.

    Scaling out follows the ratio down as far as it fell; scaling back in needs the ratio a
    `reentry_band` above the step it climbs over (hysteresis: no flapping on one threshold).
    """
    if ratio < params.exit_ratio:
        return None
    steps = params.scale_out
    while level < len(steps) and ratio < steps[level].ratio:
        level += 1
    while level > 0 and ratio >= steps[level - 1].ratio + params.reentry_band:
        level -= 1
    return level


def fraction_at(level: int, params: CampaignModelConfig, /) -> Decimal:
    """Return the fraction of the campaign's size held at `level`."""
    return _ONE if level == 0 else params.scale_out[level - 1].fraction


# -- sizing and orders ------------------------------------------------------------------------


def floor_to(value: Decimal, step: Decimal, /) -> Decimal:
    """Return `value` rounded down to a whole multiple of `step`."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal, /) -> Decimal:
    """Return `value` rounded up to a whole multiple of `step`."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def campaign_size(
    equity: Decimal,
    close: Decimal,
    sigma: float,
    params: CampaignModelConfig,
    /,
    *,
    multiplier: Decimal = _ONE,
) -> Decimal:
    """Return the campaign's full size in base units: volatility-scaled, capped, in whole lots.

    `equity x risk_per_trade / (sigma x sqrt(horizon))` of notional, at most `max_exposure` of
    equity, times a drawdown tier's `multiplier`; 0 when equity, price or sigma give nothing.
    """
    if equity <= 0 or close <= 0 or not (math.isfinite(sigma) and sigma > 0.0):
        return ZERO
    scaled = params.risk_per_trade / (sigma * math.sqrt(params.risk_horizon_bars))
    notional = equity * min(Decimal(repr(scaled)), params.max_exposure) * multiplier
    qty = floor_to(notional / close, params.lot)
    if params.max_qty is not None:
        qty = min(qty, floor_to(params.max_qty, params.lot))
    return max(qty, ZERO)


def limit_price(side: Side, close: Decimal, params: CampaignModelConfig, /) -> Decimal:
    """Return a marketable limit: `slippage_bps` beyond the close, on the tick grid."""
    slip = params.slippage_bps / _BPS
    if side == "buy":
        return ceil_to(close * (_ONE + slip), params.tick)
    return max(floor_to(close * (_ONE - slip), params.tick), params.tick)


def order_for(
    target: Decimal,
    position: Decimal,
    cash: Decimal,
    close: Decimal,
    params: CampaignModelConfig,
    /,
    *,
    multiplier: Decimal = _ONE,
    final: bool = False,
) -> tuple[Side, Decimal, Decimal] | None:
    """Return the (side, qty, limit) moving `position` towards `target`, or None.

    Invariants: a buy's qty x limit x (1 + fee reserve) never exceeds `cash`, nor the per-order
    cap x `multiplier`; a sell never exceeds `position`; qty is a whole number of lots. An order
    below `min_notional` is not worth sending (None), except a final exit's last sell.
    """
    lot = params.lot
    if target > position:
        price = limit_price("buy", close, params)
        room = floor_to(cash / (price * (_ONE + params.fee_reserve_bps / _BPS)), lot)
        qty = min(floor_to(target - position, lot), room)
        cap = params.max_order_notional
        if cap is not None:
            qty = min(qty, floor_to(cap * multiplier / price, lot))
        if qty <= 0 or qty * price < params.min_notional:
            return None
        return "buy", qty, price
    if target < position and position > 0:
        price = limit_price("sell", close, params)
        qty = floor_to(min(position - max(target, ZERO), position), lot)
        cap = params.max_order_notional
        if cap is not None:
            qty = min(qty, floor_to(cap * multiplier / price, lot))
        if qty <= 0 or (qty * price < params.min_notional and not (final and qty == position)):
            return None
        return "sell", qty, price
    return None
