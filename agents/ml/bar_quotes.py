"""Quote a bar-driven Avellaneda-Stoikov-like market maker: the peers' benchmark strategy.

`../shared/peers/README.md` defines it, and NautilusTrader and backtrader run it; we run the same
arithmetic so the three can be compared order for order. Per bar with close `c`:

    var   <- lam * var + (1 - lam) * ln(c / c_prev)^2      (var starts at 0)
    sp     = c * sqrt(var)                                  (sigma in price units)
    r      = c - (q / size) * gamma * sp^2                  (reservation price)
    bid    = min(floor((r - k*sp) / tick) * tick, c - tick)
    ask    = max(ceil((r + k*sp) / tick) * tick,  c + tick)

no quotes until `warmup` returns are seen, no bid when `q >= qmax`, no ask when `q <= -qmax`.
An adjuster (`rl.py`) may scale the half-spread by `m` and shift the reservation by `skew * sp`
through `observe` + `quote`; `update` is the plain path (`m = 1`, `skew = 0`), kept as one
method because it runs on every bar. The model runs in float64 (features may, DESIGN.md §2);
prices leave it as whole ticks, so the quotes are exact `Decimal`s on the grid.
"""

from __future__ import annotations

import math
from decimal import Decimal

import msgspec

from runtime import ConfigBase


class BarQuoterConfig(ConfigBase, frozen=True, kw_only=True):
    """The quoting model's parameters (the peers' values are the defaults)."""

    lam: float = 0.94
    """EWMA decay of squared 1-bar log returns."""
    k: float = 1.0
    """Half-spread in units of `sp`."""
    gamma: float = 0.0005
    """Inventory aversion."""
    size: Decimal = Decimal("0.01")
    """Order size, base units; `q / size` is the inventory in orders."""
    qmax: Decimal = Decimal(1)
    """No bid at `q >= qmax`, no ask at `q <= -qmax`."""
    warmup: int = 30
    """Returns to see before the first quote."""
    tick: Decimal = Decimal("0.01")
    """The price grid."""


class BarQuoterState(msgspec.Struct, kw_only=True):
    """The EWMA recursion."""

    prev: float | None = None
    var: float = 0.0
    returns: int = 0


class BarQuoter:
    """Turn closes and the inventory into (bid, ask), each None when that side must not quote."""

    __slots__ = ("_gamma", "_k", "_lam", "_size", "_tick", "_tick_f", "params", "state")

    def __init__(self, params: BarQuoterConfig, state: BarQuoterState | None = None) -> None:
        self.params = params
        self.state = state or BarQuoterState()
        self._lam = params.lam
        self._k = params.k
        self._gamma = params.gamma
        self._size = float(params.size)
        self._tick = params.tick
        self._tick_f = float(params.tick)

    def update(self, close: Decimal, q: Decimal, /) -> tuple[Decimal | None, Decimal | None]:
        """Take the next close and the position; return the quotes for the next bar.

        `observe(close)` then `quote(close, q)`, fused (one `float(close)`, no calls): the same
        operations in the same order, so the same floats and the same `Decimal`s.
        """
        st = self.state
        c = float(close)
        prev = st.prev
        if prev is not None:
            r = math.log(c / prev)
            lam = self._lam
            st.var = lam * st.var + (1.0 - lam) * r * r
            st.returns += 1
        st.prev = c
        p = self.params
        if st.returns < p.warmup:
            return None, None
        sp = c * math.sqrt(st.var)
        # `quote`'s `+ skew * sp` and `* spread_mult` at their defaults, kept: bit for bit.
        res = c - (float(q) / self._size) * self._gamma * sp * sp + 0.0 * sp
        half = self._k * sp * 1.0
        tick = self._tick
        tf = self._tick_f
        ticks = close / tick
        # `min(down, below)` and `max(up, above)`, spelled out (what the builtins compare).
        down, below = Decimal(math.floor((res - half) / tf)), ticks - 1
        up, above = Decimal(math.ceil((res + half) / tf)), ticks + 1
        bid = (below if below < down else down) * tick if q < p.qmax else None
        ask = (above if above > up else up) * tick if q > -p.qmax else None
        return bid, ask

    def observe(self, close: Decimal, /) -> None:
        """Take the next close into the EWMA (the first half of `update`; then call `quote`)."""
        st = self.state
        c = float(close)
        if st.prev is not None:
            r = math.log(c / st.prev)
            st.var = self._lam * st.var + (1.0 - self._lam) * r * r
            st.returns += 1
        st.prev = c

    def quote(
        self, close: Decimal, q: Decimal, /, *, spread_mult: float = 1.0, skew: float = 0.0
    ) -> tuple[Decimal | None, Decimal | None]:
        """Return the quotes after `observe(close)`, the half-spread times `spread_mult` and the
        reservation moved by `skew * sp`; the defaults give exactly what `update` gives."""
        st = self.state
        p = self.params
        if st.returns < p.warmup:
            return None, None
        c = float(close)
        sp = c * math.sqrt(st.var)
        res = c - (float(q) / self._size) * self._gamma * sp * sp + skew * sp
        half = self._k * sp * spread_mult
        tick = self._tick
        tf = self._tick_f
        ticks = close / tick
        bid_ticks = min(Decimal(math.floor((res - half) / tf)), ticks - 1)
        ask_ticks = max(Decimal(math.ceil((res + half) / tf)), ticks + 1)
        bid = bid_ticks * tick if q < p.qmax else None
        ask = ask_ticks * tick if q > -p.qmax else None
        return bid, ask
