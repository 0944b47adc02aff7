"""Screen many parameter sets of the bar market maker at once: its fills and PnL in numpy.

`kinetic analyze` reports metrics from the event-driven engine (the SimKernel backtest, about
125 µs a bar with the journal off), so a sweep of a thousand candidates over weeks of bars
would take hours. This module re-implements what that backtest does for the bar market maker
(`bar_quotes.py` behind `market_maker.py`, the simulated venue in relay mode, the performance
recorder) over arrays: one pass over the bars, every candidate a lane of a numpy vector, so the
cost of a bar is shared by all of them. `kinetic analyze` screens with it and sends only the best
candidates to the event-driven engine.

What it reproduces, bar by bar (bar `t`, then bar `t + 1`):

- quotes after bar `t` with the model's own float64 arithmetic, operation for operation, from
  the inventory that counts bar `t`'s fills: the same ticks as `BarQuoter.update`;
- the venue's bar matching of those quotes against bar `t + 1` (`touch` or `through`): a bid at or
  above the open takes at the open as taker, otherwise it fills at its price as maker when the low
  reaches it; asks mirror it; every fill is the whole order (no `volume_share`);
- fees rounded half-even to `fee_quantum`, cash and inventory in integers of `tick x 1e-8`, so
  PnL, fees, final cash and final inventory are exact (the same `Decimal`s);
- the recorder's per-bar equity samples (marked at the close, after the next bar's fills, as the
  recorder sees them in relay mode), and from them Sharpe, Sortino, drawdown, inventory stats.

Tolerance (docs/analyze.md): orders, fills, PnL, fees, final cash and inventory are exact; the
float statistics agree to a relative 1e-9 (sums are taken in another order). What it does not
model: risk limits that deny quotes (the gate must approve everything, true with no limits),
latency, partial fills, venue faults. Configs it cannot reproduce are refused, by key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar

import msgspec
import numpy as np

from agents.data.messages import Bar
from agents.ml.bar_quotes import BarQuoterConfig
from runtime import ConfigError

YEAR_SECS = 365 * 24 * 3600
QTY_EXP = -8
"""Quantities are integers of 1e-8 (positions, sizes, caps): the venue's default lot."""
CHUNK_BARS = 2048
"""Most bars recorded per block before the block is booked."""
CHUNK_CELLS = 1 << 16
"""Bars x candidates per block: 512 KiB per float array, so a block's passes stay in L2."""
_QTY_SCALE = 10.0**-QTY_EXP


class BarArrays(msgspec.Struct, frozen=True, kw_only=True):
    """The bars of a window as arrays: stamps, prices in ticks (exact), closes as floats."""

    end_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    close_f: np.ndarray
    """`float(close)` per bar, as the model reads it."""
    tick: Decimal

    def window(self, start_ns: int, end_ns: int, /) -> BarArrays:
        """Return the bars stamped in `[start_ns, end_ns)` (the feed's `start`/`end` window)."""
        lo, hi = np.searchsorted(self.end_ns, [start_ns, end_ns], side="left")
        return BarArrays(
            end_ns=self.end_ns[lo:hi], open=self.open[lo:hi], high=self.high[lo:hi],
            low=self.low[lo:hi], close=self.close[lo:hi], close_f=self.close_f[lo:hi],
            tick=self.tick,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.end_ns)


def bar_arrays(bars: Iterable[Bar], /, *, tick: Decimal) -> BarArrays:
    """Convert bars (in time order) to arrays; every price must lie on the `tick` grid."""
    rows = list(bars)
    end_ns = np.fromiter((b.end_ns for b in rows), dtype=np.int64, count=len(rows))
    cols = []
    for name in ("open", "high", "low", "close"):
        ticks = [getattr(b, name) / tick for b in rows]
        bad = next((i for i, x in enumerate(ticks) if x != x.to_integral_value()), None)
        if bad is not None:
            raise ConfigError(
                f"the screen needs prices on the tick grid: bar {bad} has {name} "
                f"{getattr(rows[bad], name)}, not a multiple of `tick` {tick}"
            )
        cols.append(np.array([float(x) for x in ticks], dtype=np.float64))
    close_f = np.array([float(b.close) for b in rows], dtype=np.float64)
    return BarArrays(
        end_ns=end_ns, open=cols[0], high=cols[1], low=cols[2], close=cols[3], close_f=close_f,
        tick=tick,
    )  # fmt: skip


def ewma_var(close_f: Sequence[float], /, *, lam: float) -> list[float]:
    """Return the quoter's EWMA variance after each close (`BarQuoter.observe`, bitwise)."""
    out = []
    prev: float | None = None
    var = 0.0
    one_minus = 1.0 - lam
    log = math.log
    for c in close_f:
        if prev is not None:
            r = log(c / prev)
            var = lam * var + one_minus * r * r
        prev = c
        out.append(var)
    return out


def ewma_sigma(close_f: np.ndarray, /, *, lam: float, warmup: int) -> np.ndarray:
    """Return `sp = c * sqrt(var)` per bar (NaN before `warmup` returns), as `BarQuoter` does.

    `ewma_var` is a Python loop on purpose: `math.log` and the model's operation order, so every
    value is bitwise the model's (numpy's vectorized log may differ in the last bit, which moves
    a tick).
    """
    closes = close_f.tolist()
    out = np.full(len(closes), np.nan)
    sqrt = math.sqrt
    for i, (c, var) in enumerate(zip(closes, ewma_var(closes, lam=lam), strict=True)):
        if i >= warmup:
            out[i] = c * sqrt(var)
    return out


class VenueTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What the screen takes from the simulated venue's params: fees and their rounding."""

    maker_fee: Decimal
    taker_fee: Decimal
    fee_quantum: Decimal
    strict: bool
    """`fill_model = "through"`: a resting order fills only when the market passes it."""


class Books(msgspec.Struct, frozen=True, kw_only=True):
    """The recorder's starting balances."""

    cash: Decimal
    position: Decimal


def _lots(x: Decimal, name: str) -> int:
    n = x.scaleb(-QTY_EXP)
    if n != n.to_integral_value():
        raise ConfigError(f"the screen counts quantities in 1e-8: `{name}` {x} is finer")
    return int(n)


class BarMarketMakerScreen:
    """Run the bar market maker's backtest for many candidates at once (`kinetic analyze`).

    Build it from the actors of the backtest config (`from_actors`), then `run` it over a window
    of bars for a list of candidates, each a mapping of `BarQuoterConfig` fields to values.
    """

    target: ClassVar[str] = "params.model"
    """Where the swept keys live in the strategy's agent config."""

    def __init__(self, model: BarQuoterConfig, venue: VenueTerms, books: Books) -> None:
        self.model = model
        self.venue = venue
        self.books = books
        self._base: dict[str, Any] = msgspec.to_builtins(model)

    @classmethod
    def from_actors(
        cls, actors: Mapping[str, Any], /, *, strategy: str, target: str = "params.model"
    ) -> BarMarketMakerScreen:
        """Read the strategy's model, its venue's fees and its recorder's balances from actors.

        `actors` are the backtest config's actors as `kinetic backtest` builds them (params
        decoded by their own kinds), by name. Refuses, naming the key, what it cannot reproduce.
        """
        if target != cls.target:
            raise ConfigError(f"the bar market maker screen sweeps `{cls.target}`, not `{target}`")
        mm = actors.get(strategy)
        model = getattr(getattr(mm, "params", None), "model", None)
        if not isinstance(model, BarQuoterConfig):
            raise ConfigError(f"agent `{strategy}` is not a `bar_market_maker` - at `strategy`")
        mm_params: Any = getattr(mm, "params", None)
        venue_name = mm_params.venue
        venue = getattr(actors.get(venue_name), "params", None)
        if venue is None or not hasattr(venue, "fill_model"):
            raise ConfigError(
                f"the screen needs the simulated venue `{venue_name}` as an agent of the backtest"
            )
        needs = {
            "relay": (venue.relay, True),
            "latency_ms": (venue.latency_ms, 0.0),
            "volume_share": (venue.volume_share, None),
            "faults": (venue.faults, None),
        }
        for key, (got, want) in needs.items():
            if got != want:
                raise ConfigError(
                    f"the screen reproduces the venue only with `{key}` = {want!r}, got {got!r}"
                    f" - at agent `{venue_name}`"
                )
        if venue.fill_model not in ("touch", "through"):
            raise ConfigError(
                f"the screen reproduces `fill_model` touch or through, got {venue.fill_model!r}"
                f" - at agent `{venue_name}`"
            )
        perf = next(
            (
                a.params
                for a in actors.values()
                if getattr(a.params, "strategy", None) == strategy and hasattr(a.params, "cash")
            ),
            None,
        )
        if perf is None:
            raise ConfigError(f"the screen needs a `performance` agent following `{strategy}`")
        return cls(
            model,
            VenueTerms(
                maker_fee=venue.maker_fee,
                taker_fee=venue.taker_fee,
                fee_quantum=venue.fee_quantum,
                strict=venue.fill_model == "through",
            ),
            Books(cash=perf.cash, position=perf.position),
        )

    def candidate(self, overrides: Mapping[str, Any], /) -> BarQuoterConfig:
        """Return the model config of one candidate: the base model with `overrides` applied."""
        data = {**self._base, **overrides}
        try:
            return msgspec.convert(data, BarQuoterConfig, strict=True)
        except msgspec.ValidationError as err:
            raise ConfigError(f"candidate {dict(overrides)}: {err}") from err

    def load(self, bars: Iterable[Bar], /) -> BarArrays:
        """Convert a window's bars to arrays once; `run` takes sub-windows of them."""
        return bar_arrays(bars, tick=self.model.tick)

    def run(
        self,
        bars: BarArrays,
        candidates: Sequence[Mapping[str, Any]],
        /,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return the `BacktestMetrics` fields per candidate over the bars in `[start, end)`."""
        if start_ns is not None or end_ns is not None:
            bars = bars.window(
                -(2**63) if start_ns is None else start_ns,
                2**63 - 1 if end_ns is None else end_ns,
            )
        models = [self.candidate(c) for c in candidates]
        out: list[dict[str, Any]] = [{} for _ in models]
        groups: dict[tuple[float, int], list[int]] = {}
        for i, m in enumerate(models):
            if m.tick != bars.tick:
                raise ConfigError(f"candidate {i}: `tick` {m.tick} is not the bars' {bars.tick}")
            groups.setdefault((m.lam, m.warmup), []).append(i)
        for (lam, warmup), idx in groups.items():
            sp = ewma_sigma(bars.close_f, lam=lam, warmup=warmup)
            sim = _Sim(self, bars, [models[i] for i in idx])
            for i, metrics in zip(idx, sim.simulate(sp), strict=True):
                out[i] = metrics
        return out


class _Lanes:
    """The candidates of one (lam, warmup) group as per-lane constants, fees included.

    A fill of `n` lots at `px` ticks costs `px * n * rate` in money units, rounded half-even to
    the fee quantum. When `n * rate` is a whole number of quanta per tick (0.01 BTC at 0.1%: 10)
    the fee is linear in the price, `px * f`, and needs no rounding; those lanes are booked
    with one multiply per fill. The others (`exact_fee` false) round each fill on its own.
    """

    def __init__(self, models: Sequence[BarQuoterConfig], rates: Sequence[Fraction]) -> None:
        self.models = list(models)
        self.gamma = np.array([m.gamma for m in models], dtype=np.float64)
        self.k = np.array([m.k for m in models], dtype=np.float64)
        self.size_f = np.array([float(m.size) for m in models], dtype=np.float64)
        self.size_l = np.array([_lots(m.size, "size") for m in models], dtype=np.int64)
        self.qmax_l = np.array([_lots(m.qmax, "qmax") for m in models], dtype=np.int64)
        # Fee quanta per tick of price per size, per liquidity (maker, taker); None: not linear.
        per_size: dict[int, list[int] | None] = {}
        for n in set(self.size_l.tolist()):
            fs = [Fraction(n) * r for r in rates]
            per_size[n] = [int(f) for f in fs] if all(f.denominator == 1 for f in fs) else None
        linear = [per_size[n] for n in self.size_l.tolist()]
        self.exact_fee = np.array([f is not None for f in linear], dtype=bool)
        self.fee_per_tick = [
            np.array([f[side] if f is not None else 0 for f in linear], dtype=np.int64)
            for side in range(2)
        ]


class _Sim:
    """Simulate one group of lanes over a window: the quoting loop, then the books per block."""

    def __init__(self, screen: BarMarketMakerScreen, bars: BarArrays, models: list[Any]) -> None:
        self.bars = bars
        v, b = screen.venue, screen.books
        unit = bars.tick.scaleb(QTY_EXP)  # the money unit: one tick times one 1e-8 quantity
        self.unit = unit
        quantum = v.fee_quantum / unit
        if quantum != quantum.to_integral_value():
            raise ConfigError(f"the screen needs `fee_quantum` to be a multiple of {unit}")
        self.quantum = int(quantum)
        # A fill's fee in quanta is round_half_even(notional_units * rate) with these rates.
        self.rates = [
            Fraction(unit) * Fraction(r) / Fraction(v.fee_quantum)
            for r in (v.maker_fee, v.taker_fee)
        ]
        self.lanes = _Lanes(models, self.rates)
        self.per_quote = float(1 / unit)  # money units per quote-asset unit: 10^n, exact
        self.strict = v.strict
        self.books = b
        cash = b.cash / unit
        if cash != cash.to_integral_value():
            raise ConfigError(f"the screen needs the starting `cash` to be a multiple of {unit}")
        self.cash0 = int(cash)
        self.pos0 = _lots(b.position, "position")
        top = float(max(bars.high.max(initial=0.0), -bars.low.min(initial=0.0)))
        ln = self.lanes
        cost = ln.size_l + np.maximum(*ln.fee_per_tick) * self.quantum
        self.max_step = 2 * int(top + 1) * int(cost.max(initial=0))
        """The most one bar's fills can move a lane's cash, in money units."""

    def simulate(self, sp: np.ndarray, /) -> list[dict[str, Any]]:
        """Run the quoting loop over the bars, booking each block of rows when it is full."""
        bars, ln = self.bars, self.lanes
        n, p = len(bars), len(ln.models)
        books = _Books(self, p)
        if n == 0:
            return books.results()
        chunk = max(64, min(CHUNK_BARS, CHUNK_CELLS // p, n))
        if chunk * self.max_step > 2**61:
            raise ConfigError("the screen's integer books would overflow; use smaller sizes")
        blk = _Block(chunk, p)
        quotes, quoted, filled, position = blk.quotes, blk.quoted, blk.filled, blk.position
        # Row 0 is the bid side, row 1 the ask side negated, so one ufunc serves both sides:
        # [bid; -ask] = floor([r - h; -r - h] / tick), and -ceil(z) = floor(-z) exactly.
        sign_f = np.array([[1.0], [-1.0]])
        sign_i = np.array([[1], [-1]], dtype=np.int64)
        limit = np.stack([bars.close - 1.0, -(bars.close + 1.0)], axis=1)[:, :, None]
        reach = np.stack([bars.low, -bars.high], axis=1)[:, :, None]
        opens = np.stack([bars.open, -bars.open], axis=1)[:, :, None]
        pl = np.zeros(p, dtype=np.int64)
        signed = np.zeros((2, p), dtype=np.int64)
        plf, x, half, res = np.zeros(p), np.empty(p), np.empty(p), np.empty(p)
        step = np.empty(p, dtype=np.int64)
        gamma, k, size_f, size_l, qmax_l = ln.gamma, ln.k, ln.size_f, ln.size_l, ln.qmax_l
        tf = float(bars.tick)
        cf = bars.close_f.tolist()
        strict = self.strict
        sp_list = sp.tolist()
        for t0 in range(0, n, chunk):
            t1 = min(t0 + chunk, n)
            blk.clear(t1 - t0)
            for t in range(t0, t1):
                s = sp_list[t]
                if math.isnan(s):  # still warming up, no quotes (and no position yet)
                    continue
                r = t - t0
                y, q = quotes[r], quoted[r]
                # The model's arithmetic in its order (bar_quotes.py), so the same ticks.
                np.divide(pl, _QTY_SCALE, out=plf)  # float(q): exact lots over 1e8, rounded once
                np.divide(plf, size_f, out=x)
                np.multiply(x, gamma, out=x)
                np.multiply(x, s, out=x)
                np.multiply(x, s, out=x)
                np.subtract(cf[t], x, out=res)
                np.multiply(k, s, out=half)
                np.multiply(sign_f, res, out=y)
                np.subtract(y, half, out=y)
                np.divide(y, tf, out=y)
                np.floor(y, out=y)
                np.minimum(y, limit[t], out=y)  # at least one tick passive
                np.multiply(sign_i, pl, out=signed)
                np.less(signed, qmax_l, out=q)  # a bid while q < qmax, an ask while q > -qmax
                if t + 1 < n:  # the last quotes are accepted and never meet a bar
                    f = filled[r]
                    if strict:  # resting fills when the market passes; arriving at the open takes
                        np.greater(y, reach[t + 1], out=f)
                        f |= y >= opens[t + 1]
                    else:  # touch: the low is at most the open, so this covers arrival too
                        np.greater_equal(y, reach[t + 1], out=f)
                    f &= q
                    np.subtract(f[0], f[1], out=step, dtype=np.int64, casting="unsafe")
                    step *= size_l
                    pl += step
                position[r] = pl
            books.book(t0, blk, t1 - t0)
        return books.results()


class _Block:
    """What the loop records for one block of bars (row `r` is bar `t0 + r`), per lane.

    `quotes[r]` is [bid; -ask] in ticks quoted after the bar, `quoted[r]` whether each side was
    sent, `filled[r]` whether each side filled against the next bar, `position[r]` the position
    (1e-8 units) after those fills. Warm-up rows stay zero: no quote, no position.
    """

    def __init__(self, rows: int, p: int) -> None:
        self.quotes = np.zeros((rows, 2, p))
        self.quoted = np.zeros((rows, 2, p), dtype=bool)
        self.filled = np.zeros((rows, 2, p), dtype=bool)
        self.position = np.zeros((rows, p), dtype=np.int64)

    def clear(self, rows: int, /) -> None:
        """Zero the first `rows` rows."""
        for a in (self.quotes, self.quoted, self.filled, self.position):
            a[:rows] = 0


class _Books:
    """Per-lane books across blocks: money in integers (exact), statistics in floats."""

    def __init__(self, sim: _Sim, p: int) -> None:
        self.sim = sim
        self.p = p
        self.cash = np.full(p, sim.cash0, dtype=np.int64)
        self.pos = np.zeros(p, dtype=np.int64)
        self.orders = np.zeros(p, dtype=np.int64)
        self.fills = np.zeros(p, dtype=np.int64)
        self.two_sided = np.zeros(p, dtype=np.int64)
        self.fee_quanta = np.zeros(p, dtype=np.int64)
        self.notional = np.zeros(p)
        """Traded notional in money units, as a float (only turnover reads it)."""
        self.last_equity: np.ndarray | None = None
        self.peak = np.full(p, -np.inf)
        self.mdd = np.zeros(p)
        self.r_n = np.zeros(p)
        self.r_sum = np.zeros(p)
        self.r_sq = np.zeros(p)
        self.down = np.zeros(p)
        self.inv = _Moments(p)
        self.inv_max = np.zeros(p)

    def book(self, t0: int, blk: _Block, rows: int, /) -> None:
        """Book one block: fills to cash, cash and position to equity samples, statistics."""
        sim = self.sim
        bars = sim.bars
        n = len(bars)
        quotes, quoted, filled = blk.quotes[:rows], blk.quoted[:rows], blk.filled[:rows]
        pos = blk.position[:rows]
        bid_q = quoted[:, 0]
        if quotes[:, 0].min() <= 0:  # the venue rejects a bid <= 0: not an order
            np.logical_and(bid_q, quotes[:, 0] > 0, out=bid_q)
        self.orders += np.count_nonzero(quoted, axis=0).sum(0)
        both = bid_q & quoted[:, 1]
        self.two_sided += np.count_nonzero(both[:-1] if t0 + rows == n else both, axis=0)
        self.fills += np.count_nonzero(filled, axis=0).sum(0)
        delta = self._cash_flows(t0, rows, quotes, filled)
        cash = delta  # summed in place: row r becomes the cash after bar t0 + r + 1's fills
        cash[0] += self.cash
        for r in range(1, rows):
            np.add(cash[r - 1], cash[r], out=cash[r])
        if np.abs(cash[-1]).max(initial=0) > 2**61 - rows * sim.max_step:
            raise ConfigError("the screen's integer books would overflow; use smaller sizes")
        held = pos if not sim.pos0 else pos + sim.pos0
        equity_units = held * bars.close[t0 : t0 + rows, None].astype(np.int64)
        equity_units += cash
        equity = equity_units.astype(np.float64)
        equity /= sim.per_quote
        self.cash = cash[-1].copy()
        self.pos = pos[-1].copy()
        self._returns(equity)
        self._drawdown(equity)
        inv = pos.astype(np.float64)
        inv /= _QTY_SCALE  # float(Decimal inventory): exact lots over 1e8, rounded once
        self.inv.add(inv)
        self.inv_max = np.maximum(self.inv_max, np.abs(inv).max(0))

    def _cash_flows(
        self, t0: int, rows: int, quotes: np.ndarray, filled: np.ndarray, /
    ) -> np.ndarray:
        """Return each row's cash change (money units): the fills against the next bar."""
        sim = self.sim
        bars, ln = sim.bars, sim.lanes
        nxt = np.minimum(np.arange(t0 + 1, t0 + rows + 1), len(bars) - 1)
        on = bars.open[nxt][:, None]
        # An order at or through the open takes at the open; otherwise it fills at its price.
        # Both sides at once: [min(bid, open); min(-ask, -open) = -max(ask, open)], 0 if unfilled.
        px = np.minimum(quotes, np.stack([on, -on], axis=1))
        px *= filled
        maker, taker = ln.fee_per_tick
        q = sim.quantum
        if np.array_equal(maker, taker):  # one rate: no need to tell maker from taker
            # buy: -(px * size + px * fee * q); sell (px negated): -px * (size - fee * q)
            coef = np.stack([-(ln.size_l + maker * q), -(ln.size_l - maker * q)])
            flows = px.astype(np.int64)
            flows *= coef
            delta = flows.sum(1)
            traded = px[:, 0].sum(0) - px[:, 1].sum(0)
            self.fee_quanta += traded.astype(np.int64) * maker
        else:
            buy_i, sell_i = px[:, 0].astype(np.int64), -px[:, 1].astype(np.int64)
            took_b = buy_i * (quotes[:, 0] >= on)  # the price of a bid that took (else 0)
            took_s = sell_i * (-quotes[:, 1] <= on)
            made = buy_i - took_b + sell_i - took_s
            took = took_b + took_s
            delta = (sell_i - buy_i) * ln.size_l
            delta -= made * (maker * q) + took * (taker * q)
            self.fee_quanta += made.sum(0) * maker + took.sum(0) * taker
            traded = (buy_i + sell_i).sum(0).astype(np.float64)
        self.notional += traded * ln.size_l
        if not ln.exact_fee.all():
            self._rounded_fees(delta, px[:, 0], -px[:, 1], quotes, on)
        out: np.ndarray = delta
        return out

    def _rounded_fees(
        self,
        delta: np.ndarray,
        buy_px: np.ndarray,
        sell_px: np.ndarray,
        quotes: np.ndarray,
        on: np.ndarray,
        /,
    ) -> None:
        """Charge the fills of lanes whose fee is not linear, each fee rounded half-even."""
        sim = self.sim
        ln = sim.lanes
        lanes = np.flatnonzero(~ln.exact_fee)
        for px_all, taker_all in (
            (buy_px, quotes[:, 0] >= on),
            (sell_px, -quotes[:, 1] <= on),
        ):
            px = px_all[:, lanes]
            rows, cols = np.nonzero(px)
            if not rows.size:
                continue
            lane = lanes[cols]
            notional = px[rows, cols].astype(np.int64) * ln.size_l[lane]
            taker = taker_all[:, lanes][rows, cols]
            fee = np.where(
                taker, _half_even(notional, sim.rates[1]), _half_even(notional, sim.rates[0])
            )
            np.subtract.at(delta, (rows, lane), fee * sim.quantum)
            np.add.at(self.fee_quanta, lane, fee)

    def _returns(self, equity: np.ndarray, /) -> None:
        last, self.last_equity = self.last_equity, equity[-1].copy()
        if last is not None:  # the return across the block boundary
            self._add_returns(equity[:1], last[None, :])
        if len(equity) > 1:
            self._add_returns(equity[1:], equity[:-1])

    def _add_returns(self, cur: np.ndarray, prev: np.ndarray, /) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = cur / prev
        r -= 1.0
        total = r.sum(0)
        if np.isfinite(total).all():
            self.r_n += len(r)
        else:  # a zero equity: the recorder skips a return from it
            r = np.where(prev != 0, r, 0.0)
            self.r_n += np.count_nonzero(prev != 0, axis=0)
            total = r.sum(0)
        self.r_sum += total
        self.r_sq += np.einsum("ij,ij->j", r, r)
        np.minimum(r, 0.0, out=r)
        self.down += np.einsum("ij,ij->j", r, r)

    def _drawdown(self, equity: np.ndarray, /) -> None:
        peak = np.empty_like(equity)
        np.maximum(self.peak, equity[0], out=peak[0])
        for r in range(1, len(equity)):
            np.maximum(peak[r - 1], equity[r], out=peak[r])
        self.peak = peak[-1].copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = (peak - equity) / peak
        if peak[0].min() <= 0:  # (peaks only rise) the recorder needs a positive peak
            dd = np.where(peak > 0, dd, 0.0)
        self.mdd = np.maximum(self.mdd, dd.max(0))

    def results(self) -> list[dict[str, Any]]:
        """Return the metrics per lane, named and typed as `BacktestMetrics`."""
        sim = self.sim
        bars, unit, books = sim.bars, sim.unit, sim.books
        n = len(bars)
        # The recorder marks the starting position at the first open, read back from a float.
        open0 = Decimal(str(float(Decimal(int(bars.open[0])) * bars.tick))) if n else Decimal(0)
        start = books.cash + books.position * open0
        last_close = Decimal(int(bars.close[-1])) * bars.tick if n else Decimal(0)
        bar_secs = (int(bars.end_ns[1]) - int(bars.end_ns[0])) / 1e9 if n > 1 else 60.0
        scale = math.sqrt(YEAR_SECS / bar_secs) if bar_secs > 0 else 0.0
        i_mean, i_sd = self.inv.mean_sd()
        fee_unit = sim.quantum * unit
        out = []
        for i in range(self.p):
            cash = Decimal(int(self.cash[i])) * unit
            inv = Decimal(int(self.pos[i])).scaleb(QTY_EXP)
            final = cash + (books.position + inv) * last_close
            orders, fills = int(self.orders[i]), int(self.fills[i])
            cnt = int(self.r_n[i])
            mean = float(self.r_sum[i]) / cnt if cnt else 0.0
            var = (float(self.r_sq[i]) - cnt * mean * mean) / (cnt - 1) if cnt > 1 else 0.0
            sd = math.sqrt(var) if var > 0 else 0.0
            down = math.sqrt(float(self.down[i]) / cnt) if cnt else 0.0
            turnover = float(self.notional[i]) / sim.per_quote / float(start) if start else 0.0
            out.append(
                {
                    "bars": n,
                    "orders": orders,
                    "fills": fills,
                    "fill_rate": fills / orders if orders else 0.0,
                    "initial_equity": start,
                    "final_equity": final,
                    "pnl": final - start,
                    "return_pct": float((final - start) / start * 100) if start else 0.0,
                    "sharpe": mean / sd * scale if sd else 0.0,
                    "sortino": mean / down * scale if down else 0.0,
                    "max_drawdown": float(self.mdd[i]),
                    "turnover": turnover,
                    "fees": Decimal(int(self.fee_quanta[i])) * fee_unit,
                    "final_cash": cash,
                    "final_inventory": inv,
                    "inventory_mean": float(i_mean[i]),
                    "inventory_std": float(i_sd[i]),
                    "inventory_max": float(self.inv_max[i]),
                    "quote_uptime": int(self.two_sided[i]) / n if n else 0.0,
                }
            )
        return out


def _half_even(notional: np.ndarray, rate: Fraction, /) -> np.ndarray:
    """Return `notional * rate` rounded half-even to an integer, exactly (integers only)."""
    q, r = np.divmod(notional * rate.numerator, rate.denominator)
    twice = 2 * r
    up = (twice > rate.denominator) | ((twice == rate.denominator) & (q % 2 == 1))
    out: np.ndarray = q + up
    return out


class _Moments:
    """Count, mean and sum of squared deviations per lane, merged block by block (Chan et al.)."""

    def __init__(self, p: int) -> None:
        self.n = 0.0
        self.mean = np.zeros(p)
        self.m2 = np.zeros(p)

    def add(self, block: np.ndarray, /) -> None:
        """Merge a block of samples (rows are time)."""
        nb = float(len(block))
        mb = block.sum(0) / nb
        centred = block - mb
        m2b = np.einsum("ij,ij->j", centred, centred)
        total = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / total)
        self.m2 = self.m2 + m2b + delta * delta * (self.n * nb / total)
        self.n = total

    def mean_sd(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the mean and the sample standard deviation (0 below two samples) per lane."""
        if self.n < 2:
            return self.mean, np.zeros_like(self.mean)
        return self.mean, np.sqrt(self.m2 / (self.n - 1))


__all__ = [
    "BarArrays",
    "BarMarketMakerScreen",
    "Books",
    "VenueTerms",
    "bar_arrays",
    "ewma_sigma",
    "ewma_var",
]
