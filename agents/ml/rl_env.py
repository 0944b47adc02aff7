"""Simulate the bar market maker with an adjuster, fast enough to learn from: the training env.

One pass over a window of bars is one episode. Per bar `t` (after the quoter's warm-up):

1. the state: the market bin of bar `t` (volatility, trend: `rl.RegimeBins`) and the inventory
   bin of the position;
2. the action (spread multiplier `m`, skew) and the quotes `BarQuoter.quote` would give, with its
   float64 arithmetic operation for operation, so the same ticks (a test holds them equal);
3. the fills against bar `t + 1` with the simulated venue's bar rule, as `screen.py` reproduces
   it: a bid at or above the open takes at the open (taker), otherwise it fills at its price
   (maker) when the low reaches it (`touch`) or passes it (`through`); asks mirror it; every
   fill is the whole order; fees at the venue's rates;
4. the reward: the change of mark-to-market equity (cash + position x close, fees paid) from
   close `t` to close `t + 1`, minus the inventory penalty `kappa / 2 * (q_{t+1} * sp_t)^2`: the
   variance, in USDT^2, of holding the position the action left over one more bar (`sp_t`, the
   quoter's sigma in price units), times a risk aversion `kappa` per USDT (mean-variance).

Money here is float64: the env makes a reward signal and screening numbers, not books. The
numbers a person judges a policy by come from the event-driven engine (`kinetic train`'s
report), where money is exact. The state and the quotes, though, are exactly the actor's.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from agents.ml.bar_quotes import BarQuoterConfig
from agents.ml.qlearning import QLearner
from agents.ml.rl import ActionGrid, RegimeBins
from agents.ml.screen import BarArrays, Books, VenueTerms, ewma_var

YEAR_SECS = 365 * 24 * 3600
_LOT = 10.0**8
"""Quantities are integers of 1e-8, as the screen and the venue count them."""


def signed_efficiency(ticks: np.ndarray, /, *, bars: int) -> np.ndarray:
    """Return `RegimeTracker.update`'s trend per close, over whole arrays (exact: integers)."""
    t = ticks.astype(np.int64)
    out = np.zeros(len(t))
    if len(t) <= bars:
        return out
    moved = np.concatenate([[0], np.cumsum(np.abs(np.diff(t)))])
    window = moved[bars:] - moved[:-bars]
    net = t[bars:] - t[:-bars]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(window != 0, net / np.where(window != 0, window, 1), 0.0)
    out[bars:] = ratio
    return out


class MarketPath:
    """One window's bars with what the env reads per bar, computed once for every episode."""

    def __init__(self, bars: BarArrays, model: BarQuoterConfig, bins: RegimeBins) -> None:
        self.bars = bars
        n = len(bars)
        close_f = bars.close_f.tolist()
        var = ewma_var(close_f, lam=model.lam)
        self.var = var
        vol = np.array([math.sqrt(v) for v in var])
        self.vol = vol
        self.trend = signed_efficiency(bars.close, bars=bins.trend_bars)
        nt = len(bins.trend_edges) + 1
        market = np.searchsorted(np.array(bins.vol_edges), vol, side="right") * nt
        market += np.searchsorted(np.array(bins.trend_edges), self.trend, side="right")
        market[: model.warmup] = -1  # no quotes before `warmup` returns
        self.market = market.tolist()
        self.sp = [c * math.sqrt(v) for c, v in zip(close_f, var, strict=True)]
        self.close_f = close_f
        self.open = [int(x) for x in bars.open.tolist()]
        self.high = [int(x) for x in bars.high.tolist()]
        self.low = [int(x) for x in bars.low.tolist()]
        self.close = [int(x) for x in bars.close.tolist()]
        self.n = n
        bar_secs = (int(bars.end_ns[1]) - int(bars.end_ns[0])) / 1e9 if n > 1 else 60.0
        self.scale = math.sqrt(YEAR_SECS / bar_secs)


class EnvTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What the env needs besides the bars: the model, the venue, the books, the reward."""

    model: BarQuoterConfig
    venue: VenueTerms
    books: Books
    inventory_penalty: float
    """`kappa` per USDT: the reward subtracts `kappa / 2 * (q * sp)^2` per bar."""


class Episode(msgspec.Struct, kw_only=True):
    """What one pass gave: reward, and with `record` the metrics the artifact keeps."""

    reward: float
    metrics: dict[str, Any] | None = None


def run_episode(
    path: MarketPath,
    terms: EnvTerms,
    bins: RegimeBins,
    grid: ActionGrid,
    /,
    *,
    learner: QLearner | None = None,
    greedy: Sequence[int] | None = None,
    epsilon: float = 0.0,
    draws: tuple[list[float], list[int]] | None = None,
    record: bool = False,
) -> Episode:
    """Run one pass: learn with `learner` (epsilon-greedy on `draws`), or follow `greedy`."""
    if (learner is None) == (greedy is None):
        raise ValueError("give exactly one of `learner` (train) and `greedy` (evaluate)")
    m = terms.model
    v = terms.venue
    gamma, k = m.gamma, m.k
    size_f = float(m.size)
    size_l = int(m.size * 100_000_000)
    qmax_l = int(m.qmax * 100_000_000)
    qmax_f = float(m.qmax)
    tf = float(m.tick)
    lot_cash = tf * size_f  # USDT per tick of one order
    maker, taker = float(v.maker_fee), float(v.taker_fee)
    strict = v.strict
    kappa_half = terms.inventory_penalty / 2.0
    ni = len(bins.inventory_edges) + 1
    inv_edges = bins.inventory_edges
    mults = [grid.action(a)[0] for a in range(grid.size)]
    skews = [grid.action(a)[1] for a in range(grid.size)]
    market, sp_l, close_f = path.market, path.sp, path.close_f
    opens, highs, lows, closes = path.open, path.high, path.low, path.close
    n = path.n
    us, ras = draws if draws is not None else ([], [])
    cash0 = float(terms.books.cash)
    pos0 = float(terms.books.position)
    cash = cash0
    pos = 0  # lots of 1e-8
    total = 0.0
    fills = orders = 0
    fees = 0.0
    equity: list[float] = []
    positions: list[float] = []
    used = [0] * grid.size
    prev_s = prev_a = -1
    prev_r = 0.0
    learn = learner is not None
    for t in range(n - 1):
        ms = market[t]
        if ms < 0:
            if record:
                equity.append(cash0 + pos0 * close_f[t])
                positions.append(0.0)
            continue
        qf = pos / _LOT
        s = ms * ni + bisect_right(inv_edges, qf / qmax_f)
        if learn:
            assert learner is not None
            if prev_s >= 0:
                learner.update(prev_s, prev_a, prev_r, s)
            a = learner.explore(s, us[t], ras[t], epsilon)
        else:
            assert greedy is not None
            a = greedy[s]
        used[a] += 1
        sp = sp_l[t]
        c = close_f[t]
        res = c - (qf / size_f) * gamma * sp * sp + skews[a] * sp
        half = k * sp * mults[a]
        ct = closes[t]
        bid = min(math.floor((res - half) / tf), ct - 1)
        ask = max(math.ceil((res + half) / tf), ct + 1)
        o, hi, lo = opens[t + 1], highs[t + 1], lows[t + 1]
        eq0 = cash + qf * c
        bid_on, ask_on = pos < qmax_l, pos > -qmax_l  # the caps read the position quoted from
        if bid_on:
            orders += 1
            if bid >= o:  # marketable on arrival: takes at the open
                cash -= o * lot_cash * (1.0 + taker)
                fees += o * lot_cash * taker
                pos += size_l
                fills += 1
            elif bid > lo or (not strict and bid == lo):
                cash -= bid * lot_cash * (1.0 + maker)
                fees += bid * lot_cash * maker
                pos += size_l
                fills += 1
        if ask_on:
            orders += 1
            if ask <= o:
                cash += o * lot_cash * (1.0 - taker)
                fees += o * lot_cash * taker
                pos -= size_l
                fills += 1
            elif ask < hi or (not strict and ask == hi):
                cash += ask * lot_cash * (1.0 - maker)
                fees += ask * lot_cash * maker
                pos -= size_l
                fills += 1
        q2 = pos / _LOT
        c2 = close_f[t + 1]
        held = q2 * sp
        r = cash + q2 * c2 - eq0 - kappa_half * held * held
        total += r
        prev_s, prev_a, prev_r = s, a, r
        if record:  # as the recorder samples in relay mode: after bar t+1's fills, at close t
            equity.append(cash + (pos0 + q2) * c)
            positions.append(q2)
    if record and n:
        equity.append(cash + (pos0 + pos / _LOT) * close_f[n - 1])
        positions.append(pos / _LOT)
    if learn and prev_s >= 0:
        assert learner is not None
        learner.update(prev_s, prev_a, prev_r, None)
    if not record:
        return Episode(reward=total)
    return Episode(
        reward=total,
        metrics=_metrics(path, equity, positions, fills, orders, fees, total, used, grid),
    )


def _metrics(
    path: MarketPath,
    equity: list[float],
    positions: list[float],
    fills: int,
    orders: int,
    fees: float,
    reward: float,
    used: list[int],
    grid: ActionGrid,
    /,
) -> dict[str, Any]:
    eq = np.array(equity)
    rets = eq[1:] / eq[:-1] - 1.0 if len(eq) > 1 else np.zeros(0)
    sd = float(rets.std(ddof=1)) if len(rets) > 1 else 0.0
    peak = np.maximum.accumulate(eq) if len(eq) else eq
    dd = float(((peak - eq) / peak).max()) if len(eq) else 0.0
    inv = np.array(positions)
    steps = sum(used)
    mult = sum(grid.action(a)[0] * u for a, u in enumerate(used)) / steps if steps else 0.0
    skew = sum(grid.action(a)[1] * u for a, u in enumerate(used)) / steps if steps else 0.0
    return {
        "bars": path.n,
        "orders": orders,
        "fills": fills,
        "pnl": float(eq[-1] - eq[0]) if len(eq) else 0.0,
        "fees": fees,
        "sharpe": float(rets.mean()) / sd * path.scale if sd else 0.0,
        "max_drawdown": dd,
        "inventory_std": float(inv.std(ddof=1)) if len(inv) > 1 else 0.0,
        "inventory_max": float(np.abs(inv).max()) if len(inv) else 0.0,
        "reward": reward,
        "mean_spread_multiplier": mult,
        "mean_skew": skew,
    }


__all__ = [
    "EnvTerms",
    "Episode",
    "MarketPath",
    "ewma_var",
    "run_episode",
    "signed_efficiency",
]
