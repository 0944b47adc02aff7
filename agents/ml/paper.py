"""Simulate section 4 of Avellaneda & Stoikov (2008): inventory against symmetric quoting.

Pure functions, no I/O: the `as_paper` actor (agents/ml/as_paper_actor.py) drives them with its
seeded rng, one path per timer firing, and publishes the statistics. docs/as_paper.md has the
model, the parameters and a results table beside the paper's.

Prices here are floats on a continuous grid, on purpose: the paper's model has no tick and no
lot, so nothing is rounded (unlike `agents.ml.avellaneda.quote`, which rounds to a venue's grid).
The float formulas are the same as that module's finite-horizon model; the tests check that
they agree on the reservation price and the spread.

The model, per step of length `dt` at time `t = i*dt`, `tau = T - t`:

- the agent quotes `bid = c - spread/2`, `ask = c + spread/2` with
  `spread = gamma*sigma^2*tau + (2/gamma)*ln(1 + gamma/k)`, and the centre `c` is the
  reservation price `r = s - q*gamma*sigma^2*tau` (inventory strategy) or the mid `s`
  (symmetric strategy);
- an order at distance `delta` from the mid fills with probability `A*exp(-k*delta)*dt`
  (capped at 1: a quote at or through the mid fills for sure), at most one unit per side;
- the mid then moves by `+sigma*sqrt(dt)` or `-sigma*sqrt(dt)` with probability 1/2 each.

Profit at `T` is `cash + q*s_T` (the inventory is marked at the final mid).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    import random  # only the type of the actor's seeded `ctx.rng`; never the global generator

__all__ = [
    "PAPER_TABLE_1",
    "Accumulator",
    "PaperModel",
    "PathResult",
    "Strategy",
    "fill_probability",
    "half_edge",
    "quotes",
    "reservation_price",
    "simulate_path",
    "spread",
    "summarize",
    "table",
]

Strategy = Literal["inventory", "symmetric"]


class PaperModel(msgspec.Struct, frozen=True, kw_only=True):
    """The paper's market: mid, horizon, volatility, step and order-arrival intensity."""

    s0: float = 100.0
    T: float = 1.0
    sigma: float = 2.0
    dt: float = 0.005
    k: float = 1.5
    A: float = 140.0

    @property
    def steps(self) -> int:
        """Number of quoting steps, `T/dt` rounded to the nearest integer (200 for the paper)."""
        return round(self.T / self.dt)


class PathResult(msgspec.Struct, frozen=True, kw_only=True):
    """One simulated path: profit at T, final inventory, and the mean quoted spread."""

    profit: float
    q: int
    spread: float


def half_edge(gamma: float, k: float, /) -> float:
    """Return `(1/gamma) ln(1 + gamma/k)`, half the spread's intensity term."""
    return math.log1p(gamma / k) / gamma


def spread(gamma: float, sigma: float, tau: float, k: float, /) -> float:
    """Return the optimal total spread `gamma*sigma^2*tau + (2/gamma) ln(1 + gamma/k)`."""
    return gamma * sigma * sigma * tau + 2.0 * half_edge(gamma, k)


def reservation_price(s: float, q: float, gamma: float, sigma: float, tau: float, /) -> float:
    """Return the reservation (indifference) price `s - q*gamma*sigma^2*tau`."""
    return s - q * gamma * sigma * sigma * tau


def quotes(
    strategy: Strategy, s: float, q: float, t: float, gamma: float, m: PaperModel, /
) -> tuple[float, float]:
    """Return (bid, ask) of `strategy` at mid `s`, inventory `q`, time `t`; floats, no tick."""
    tau = max(m.T - t, 0.0)
    half = spread(gamma, m.sigma, tau, m.k) / 2.0
    centre = reservation_price(s, q, gamma, m.sigma, tau) if strategy == "inventory" else s
    return centre - half, centre + half


def fill_probability(delta: float, m: PaperModel, /) -> float:
    """Return `min(1, A*exp(-k*delta)*dt)`: the chance a quote `delta` from the mid fills."""
    return min(1.0, m.A * math.exp(-m.k * delta) * m.dt)


def simulate_path(
    m: PaperModel, gamma: float, strategy: Strategy, rng: random.Random
) -> PathResult:
    """Simulate one path of `m` under `strategy`, drawing from `rng` only.

    Per step: the ask's fill draw, the bid's, then the mid's step (three `rng.random()` calls).
    The hot loop is plain float arithmetic; it is the closed forms above, inlined.
    """
    if strategy not in ("inventory", "symmetric"):
        raise ValueError(f"unknown strategy {strategy!r}")
    skew = strategy == "inventory"
    steps = m.steps
    var = m.sigma * m.sigma
    two_edge = 2.0 * half_edge(gamma, m.k)
    jump = m.sigma * math.sqrt(m.dt)
    a_dt, k, horizon, dt = m.A * m.dt, m.k, m.T, m.dt
    uniform, exp = rng.random, math.exp
    s, q, cash, spread_sum = m.s0, 0, 0.0, 0.0
    for i in range(steps):
        risk = gamma * var * (horizon - i * dt)  # gamma sigma^2 (T - t)
        half = (risk + two_edge) / 2.0
        spread_sum += risk + two_edge
        centre = s - q * risk if skew else s
        bid, ask = centre - half, centre + half
        if uniform() < a_dt * exp(-k * (ask - s)):  # a buyer lifts our ask: we sell one
            cash += ask
            q -= 1
        if uniform() < a_dt * exp(-k * (s - bid)):  # a seller hits our bid: we buy one
            cash -= bid
            q += 1
        s += jump if uniform() < 0.5 else -jump
    return PathResult(profit=cash + q * s, q=q, spread=spread_sum / steps)


class Accumulator(msgspec.Struct, kw_only=True):
    """Running mean and variance (Welford) of profit and final inventory, and the mean spread."""

    n: int = 0
    profit_mean: float = 0.0
    profit_m2: float = 0.0
    q_mean: float = 0.0
    q_m2: float = 0.0
    spread_sum: float = 0.0

    def add(self, r: PathResult, /) -> None:
        """Fold one path in."""
        self.n += 1
        d = r.profit - self.profit_mean
        self.profit_mean += d / self.n
        self.profit_m2 += d * (r.profit - self.profit_mean)
        dq = r.q - self.q_mean
        self.q_mean += dq / self.n
        self.q_m2 += dq * (r.q - self.q_mean)
        self.spread_sum += r.spread

    @property
    def profit_std(self) -> float:
        """Sample standard deviation of the profit (n - 1 in the denominator)."""
        return math.sqrt(self.profit_m2 / (self.n - 1)) if self.n > 1 else 0.0

    @property
    def q_std(self) -> float:
        """Sample standard deviation of the final inventory (n - 1 in the denominator)."""
        return math.sqrt(self.q_m2 / (self.n - 1)) if self.n > 1 else 0.0

    @property
    def spread_mean(self) -> float:
        """Mean over paths of each path's time-averaged spread."""
        return self.spread_sum / self.n if self.n else 0.0


class _Row(msgspec.Struct, frozen=True, kw_only=True):
    gamma: float
    strategy: str
    paths: int
    spread_mean: float
    profit_mean: float
    profit_std: float
    q_mean: float
    q_std: float


PAPER_TABLE_1: dict[tuple[float, str], tuple[float, float, float, float, float]] = {
    # Avellaneda & Stoikov (2008), Table 1 (gamma = 0.1):
    # (spread, profit mean, profit std, final q mean, final q std), 1000 paths.
    (0.1, "inventory"): (1.49, 62.94, 5.89, 0.10, 2.80),
    (0.1, "symmetric"): (1.49, 67.21, 13.43, -0.018, 8.66),
}


def table(results: Iterable[object], /) -> str:
    """Return a Markdown table of `ASPaperResult`-like records (any object with its fields).

    One row per (gamma, strategy), in the order given: spread, profit mean and std, final
    inventory mean and std, and the number of paths.
    """
    fields = ("gamma", "strategy", "paths", "spread_mean", "profit_mean", "profit_std")
    rows: list[_Row] = []
    for r in results:
        missing = [f for f in (*fields, "q_mean", "q_std") if not hasattr(r, f)]
        if missing:
            raise TypeError(f"{type(r).__name__} lacks {', '.join(missing)}")
        rows.append(_Row(**{f: getattr(r, f) for f in (*fields, "q_mean", "q_std")}))
    head = (
        "| gamma | strategy | paths | spread | profit mean | profit std | final q mean "
        "| final q std |"
    )
    lines = [head, "|---:|:---|---:|---:|---:|---:|---:|---:|"]
    lines.extend(
        f"| {r.gamma:g} | {r.strategy} | {r.paths} | {r.spread_mean:.2f} | {r.profit_mean:.2f} "
        f"| {r.profit_std:.2f} | {r.q_mean:.3f} | {r.q_std:.2f} |"
        for r in rows
    )
    return "\n".join(lines) + "\n"


def summarize(paths: Sequence[PathResult], /) -> Accumulator:
    """Return the statistics of `paths` (a convenience for tests and notebooks)."""
    acc = Accumulator()
    for p in paths:
        acc.add(p)
    return acc
