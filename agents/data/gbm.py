"""Step a geometric Brownian motion price path; pure, so it is tested without a kernel.

`next_price` takes the standard normal draw from the caller, so the caller owns the randomness
(the actor's seeded `ctx.rng`) and the same seed gives the same path everywhere.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

NS_PER_YEAR = 365 * 24 * 3600 * 1_000_000_000


def next_price(price: float, /, *, sigma: float, mu: float, dt_ns: int, z: float) -> float:
    """Return the price after `dt_ns` under GBM with annual drift `mu` and volatility `sigma`."""
    dt = dt_ns / NS_PER_YEAR
    return price * math.exp((mu - 0.5 * sigma * sigma) * dt + sigma * math.sqrt(dt) * z)


def quantize(value: float, step: Decimal, /) -> Decimal:
    """Round `value` to a multiple of `step` (half-even), exactly."""
    units = (Decimal(repr(value)) / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return units * step
