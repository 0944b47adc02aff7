"""Turn a mid price and an inventory into Avellaneda-Stoikov quotes on the venue's price grid.

The model (Avellaneda & Stoikov 2008) is continuous: it gives float prices. Orders are exact
`Decimal`s on a tick grid, so this module is where floats stop: the bid is rounded down and the
ask up (rounding never narrows the spread or crosses the reservation price), sizes are rounded
down to the lot, and a minimum spread is enforced on the rounded prices, exactly.

Units are the caller's: `t` and `end_time` in one time unit, `sigma` in price units per sqrt of
that unit (absolute, not log), `k` per price unit. Formulas and sources: docs/ml.md.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

import msgspec

from runtime import ConfigBase

__all__ = ["AvellanedaStoikovConfig", "Quote", "quote"]

_ZERO = Decimal(0)


class AvellanedaStoikovConfig(ConfigBase, frozen=True):
    """Configure the Avellaneda-Stoikov quoter: model, horizon, inventory and price grid."""

    gamma: float
    """Risk aversion (per price unit per unit of normalised inventory)."""
    sigma: float
    """Mid-price volatility, price units per sqrt(time unit); the online estimate goes here."""
    k: float
    """Decay of the order-arrival intensity `A exp(-k delta)`, per price unit."""
    tick_size: Decimal
    """Price grid: bids round down to it, asks up."""
    lot_size: Decimal
    """Size grid: sizes round down to it."""
    order_size: Decimal
    """Size of each quote, base units."""
    max_inventory: Decimal
    """Position cap, base units: no quote on a side that would take |q| past it."""
    horizon: Literal["finite", "infinite"] = "finite"
    """`finite`: terminal time `end_time`; `infinite`: the stationary variant with `omega`."""
    end_time: float = 1.0
    """Terminal time T (finite horizon), in the time unit of `t`."""
    omega: float | None = None
    """Infinite horizon discount; default `0.5 gamma^2 sigma^2 (q_max + 1)^2` (the paper's)."""
    inventory_unit: Literal["orders", "max_inventory"] = "orders"
    """Normalise q to the model's q: in orders (`q / order_size`) or `q / max_inventory`."""
    min_spread: Decimal = _ZERO
    """Least quoted spread, price units; one tick at least."""

    def __post_init__(self) -> None:
        for name in ("gamma", "k", "end_time"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"`{name}` must be finite and > 0, got {value!r}")
        if not (math.isfinite(self.sigma) and self.sigma >= 0.0):
            raise ValueError(f"`sigma` must be finite and >= 0, got {self.sigma!r}")
        for name in ("tick_size", "lot_size", "order_size", "max_inventory"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        if self.min_spread < 0:
            raise ValueError(f"`min_spread` must be >= 0, got {self.min_spread}")
        if self.omega is not None and not (math.isfinite(self.omega) and self.omega > 0.0):
            raise ValueError(f"`omega` must be finite and > 0, got {self.omega!r}")


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """Hold a two-sided quote: exact prices and sizes, and the model's float values.

    A side is `None` (size 0) when it must not be quoted: the position cap, a non-positive
    price, or the infinite-horizon model pricing that side at minus infinity.
    """

    bid: Decimal | None
    ask: Decimal | None
    bid_size: Decimal
    ask_size: Decimal
    reservation: float
    """The model's reservation (indifference) price, before rounding."""
    spread: float | None
    """The model's optimal total spread, before the minimum and rounding; `None` when the
    model prices a side at infinity."""
    q: float
    """The normalised inventory the model saw."""


def _dec(x: float) -> Decimal:
    # repr is the shortest decimal that round-trips, so 100.1 stays 100.1, not 100.0999...
    return Decimal(repr(x))


def _on_grid(x: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (x / step).to_integral_value(rounding=rounding) * step


def _model(
    s: float, qn: float, t: float, p: AvellanedaStoikovConfig
) -> tuple[float, float, float, float]:
    """Return (reservation, spread, raw bid, raw ask); an infinite side is not quoted."""
    g, var = p.gamma, p.sigma * p.sigma
    half_edge = math.log1p(g / p.k) / g  # (1/gamma) ln(1 + gamma/k)
    if p.horizon == "finite":
        tau = max(p.end_time - t, 0.0)
        r = s - qn * g * var * tau
        spread = g * var * tau + 2.0 * half_edge
        return r, spread, r - spread / 2.0, r + spread / 2.0
    c = g * g * var
    if c == 0.0:  # no price risk (or below float range): inventory costs nothing
        return s, 2.0 * half_edge, s - half_edge, s + half_edge
    q_max = float(p.max_inventory / _unit(p))
    omega = p.omega if p.omega is not None else 0.5 * c * (q_max + 1.0) * (q_max + 1.0)
    q = min(max(qn, -q_max), q_max)  # the cap keeps |q| <= q_max; beyond it, price the cap

    def room(n: float) -> float:  # 2 omega - gamma^2 sigma^2 n^2: the frozen value's scale
        return 2.0 * omega - c * n * n

    here, up, down = room(q), room(q + 1.0), room(q - 1.0)
    if here <= 0.0:
        raise ValueError(f"`omega` must be > gamma^2 sigma^2 q^2 / 2, got {omega!r} at q={q}")
    # Indifference prices of the stationary frozen-inventory value; a side whose next inventory
    # has no finite value is priced at infinity (bid -inf, ask +inf): it is not quoted.
    r_b = s + math.log(up / here) / g if up > 0.0 else -math.inf
    r_a = s - math.log(down / here) / g if down > 0.0 else math.inf
    bid, ask = r_b - half_edge, r_a + half_edge
    finite = [x for x in (r_a, r_b) if math.isfinite(x)]
    r = sum(finite) / len(finite) if finite else s
    return r, ask - bid, bid, ask


def _unit(p: AvellanedaStoikovConfig) -> Decimal:
    return p.order_size if p.inventory_unit == "orders" else p.max_inventory


def quote(s: float, q: float | Decimal, t: float, params: AvellanedaStoikovConfig, /) -> Quote:
    """Return the Avellaneda-Stoikov quote for mid `s`, inventory `q` (base units) at time `t`."""
    if not (math.isfinite(s) and s > 0.0):
        raise ValueError(f"`s` must be finite and > 0, got {s!r}")
    p = params
    q_dec = q if isinstance(q, Decimal) else _dec(q)
    qn = float(q_dec / _unit(p))
    r, spread, raw_bid, raw_ask = _model(s, qn, t, p)

    bid = _on_grid(_dec(raw_bid), p.tick_size, ROUND_FLOOR) if math.isfinite(raw_bid) else None
    ask = _on_grid(_dec(raw_ask), p.tick_size, ROUND_CEILING) if math.isfinite(raw_ask) else None
    least = max(p.min_spread, p.tick_size)
    if bid is not None and ask is not None and ask - bid < least:
        # Widen around the raw midpoint, on the grid: exact, and monotone in the midpoint.
        mid = _dec((raw_bid + raw_ask) / 2.0)
        bid = _on_grid(mid - least / 2, p.tick_size, ROUND_FLOOR)
        ask = _on_grid(mid + least / 2, p.tick_size, ROUND_CEILING)
    # Invariant: a quoted side never takes |position| past max_inventory.
    bid_size = _on_grid(min(p.order_size, p.max_inventory - q_dec), p.lot_size, ROUND_FLOOR)
    ask_size = _on_grid(min(p.order_size, p.max_inventory + q_dec), p.lot_size, ROUND_FLOOR)
    if bid is None or bid <= 0 or bid_size <= 0:
        bid, bid_size = None, _ZERO
    if ask is None or ask_size <= 0:
        ask, ask_size = None, _ZERO
    return Quote(
        bid=bid,
        ask=ask,
        bid_size=bid_size,
        ask_size=ask_size,
        reservation=r,
        spread=spread if math.isfinite(spread) else None,
        q=qn,
    )
