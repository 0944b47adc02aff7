"""Compute market features bar by bar, each with a vectorized twin that tests hold it to.

A quoting agent sees one bar at a time and must snapshot its state; research and the
vectorized screen of `kinetic analyze` see whole arrays. Both must give the same numbers, so
every streaming class here has a numpy function that computes the same definition over a whole
series (`EwmaVol` <-> `ewma_vol`, ...), and the tests assert they agree to 1e-9 relative.

Conventions shared by every feature:

- `update(...)` takes one observation and returns the feature, or `None` until the window is
  full (the twin returns `nan` at those positions, so index `i` of the twin is what `update`
  returned after observation `i`).
- Volatilities are per bar, of log returns; annualise outside (multiply by sqrt(bars per year)).
- Windowed sums use `math.fsum` (exactly rounded) on values shifted by the window's last element,
  so a flat window gives exact zeros in both twins instead of rounding noise.
- `snapshot()` returns a frozen msgspec struct holding parameters and state; `restore(state)`
  rebuilds an equal estimator. Float state round-trips msgpack and JSON exactly.

Definitions, formulas and sources: docs/ml.md.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from typing import Self

import msgspec
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "EfficiencyRatio",
    "EwmaVol",
    "EwmaVolState",
    "GarmanKlassVol",
    "Momentum",
    "OuHalfLife",
    "ParkinsonVol",
    "WindowState",
    "ZScore",
    "efficiency_ratio",
    "ewma_vol",
    "garman_klass_vol",
    "momentum",
    "ou_half_life",
    "parkinson_vol",
    "zscore",
]

Array = npt.NDArray[np.float64]

_LN2 = math.log(2.0)
_GK_CLOSE = 2.0 * _LN2 - 1.0  # Garman-Klass weight of the squared open-to-close return


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"`{name}` must be finite and > 0, got {value!r}")
    return value


def _window(value: int, least: int) -> int:
    if value < least:
        raise ValueError(f"`window` must be >= {least}, got {value}")
    return value


def _bar(open_: float, high: float, low: float, close: float) -> None:
    for name, v in (("open", open_), ("high", high), ("low", low), ("close", close)):
        _positive(name, v)
    if not (low <= min(open_, close) and high >= max(open_, close)):
        raise ValueError(
            f"bar must have `low` <= open, close <= `high`, "
            f"got o={open_} h={high} l={low} c={close}"
        )


def _prices(x: Iterable[float] | Array, name: str = "prices") -> Array:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-d, got shape {arr.shape}")
    if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr > 0.0)):
        raise ValueError(f"`{name}` must be finite and > 0")
    return arr


def _padded(values: Array, n: int, lead: int) -> Array:
    """Return `values` (one per full window) behind `lead` NaNs, `n` long."""
    out = np.full(n, np.nan)
    out[lead:] = values
    return out


# --- EWMA volatility -------------------------------------------------------------------------


class EwmaVolState(msgspec.Struct, frozen=True, kw_only=True):
    """Hold an `EwmaVol`: its parameters and its recursion state."""

    lam: float
    min_periods: int
    last_price: float | None = None
    var: float | None = None
    count: int = 0


class EwmaVol:
    """Track the RiskMetrics EWMA volatility of log returns, per bar.

    `var_1 = r_1^2`, then `var_t = lam * var_{t-1} + (1 - lam) * r_t^2`; the value is
    `sqrt(var_t)` once `min_periods` returns have been seen.
    """

    __slots__ = ("_count", "_last", "_var", "lam", "min_periods")

    def __init__(self, *, lam: float = 0.94, min_periods: int = 20) -> None:
        if not 0.0 < lam < 1.0:
            raise ValueError(f"`lam` must be in (0, 1), got {lam}")
        if min_periods < 1:
            raise ValueError(f"`min_periods` must be >= 1, got {min_periods}")
        self.lam = lam
        self.min_periods = min_periods
        self._last: float | None = None
        self._var: float | None = None
        self._count = 0

    def update(self, price: float, /) -> float | None:
        """Take the next price; return the volatility once warm."""
        _positive("price", price)
        last, self._last = self._last, price
        if last is None:
            return None
        r = math.log(price / last)
        r2 = r * r
        self._var = r2 if self._var is None else self.lam * self._var + (1.0 - self.lam) * r2
        self._count += 1
        return math.sqrt(self._var) if self._count >= self.min_periods else None

    def snapshot(self) -> EwmaVolState:
        """Return the parameters and state as a frozen struct."""
        return EwmaVolState(
            lam=self.lam,
            min_periods=self.min_periods,
            last_price=self._last,
            var=self._var,
            count=self._count,
        )

    @classmethod
    def restore(cls, state: EwmaVolState, /) -> EwmaVol:
        """Rebuild the estimator a snapshot was taken of."""
        est = cls(lam=state.lam, min_periods=state.min_periods)
        est._last, est._var, est._count = state.last_price, state.var, state.count
        return est


def ewma_vol(prices: Iterable[float] | Array, /, lam: float = 0.94, min_periods: int = 20) -> Array:
    """Return `EwmaVol` over a whole price series (NaN until warm); an IIR filter in scipy."""
    if not 0.0 < lam < 1.0:
        raise ValueError(f"`lam` must be in (0, 1), got {lam}")
    p = _prices(prices)
    out = np.full(p.size, np.nan)
    if p.size < 2:
        return out
    r2 = np.diff(np.log(p)) ** 2
    var = np.empty_like(r2)
    var[0] = r2[0]
    if r2.size > 1:
        from scipy.signal import lfilter  # here: scipy.signal costs ~40 MiB to import

        filtered, _ = lfilter([1.0 - lam], [1.0, -lam], r2[1:], zi=[lam * r2[0]])
        var[1:] = filtered
    vol = np.sqrt(var)
    vol[: min_periods - 1] = np.nan
    out[1:] = vol
    return out


# --- rolling-window features -----------------------------------------------------------------


class WindowState(msgspec.Struct, frozen=True, kw_only=True):
    """Hold a rolling-window feature: its class, window length and buffered observations."""

    kind: str
    window: int
    values: tuple[float, ...] = ()


class _Rolling(ABC):
    """Keep the last `size` per-observation terms; subclasses say what a term and value are."""

    __slots__ = ("_buf", "window")
    _extra = 0  # terms kept beyond `window` (a return over N bars needs N + 1 prices)
    _least = 1

    def __init__(self, *, window: int) -> None:
        self.window = _window(window, self._least)
        self._buf: deque[float] = deque(maxlen=window + self._extra)

    def _push(self, term: float) -> float | None:
        self._buf.append(term)
        if len(self._buf) < self.window + self._extra:
            return None
        return self._value(self._buf)

    @abstractmethod
    def _value(self, buf: deque[float]) -> float:
        """Return the feature over a full window."""

    def snapshot(self) -> WindowState:
        """Return the window length and buffered observations as a frozen struct."""
        return WindowState(kind=type(self).__name__, window=self.window, values=tuple(self._buf))

    @classmethod
    def restore(cls, state: WindowState, /) -> Self:
        """Rebuild the feature a snapshot was taken of."""
        if state.kind != cls.__name__:
            raise ValueError(f"`kind` must be {cls.__name__!r}, got {state.kind!r}")
        est = cls(window=state.window)
        est._buf.extend(state.values)
        return est


class ParkinsonVol(_Rolling):
    """Estimate per-bar volatility from high/low ranges: `sqrt(mean(ln(H/L)^2) / (4 ln 2))`."""

    __slots__ = ()

    def update(self, high: float, low: float, /) -> float | None:
        """Take the next bar's high and low; return the volatility once the window is full."""
        _positive("high", high)
        _positive("low", low)
        if low > high:
            raise ValueError(f"`low` must be <= `high`, got low={low} high={high}")
        hl = math.log(high / low)
        return self._push(hl * hl)

    def _value(self, buf: deque[float]) -> float:
        return math.sqrt(math.fsum(buf) / (4.0 * _LN2 * len(buf)))


def parkinson_vol(
    high: Iterable[float] | Array, low: Iterable[float] | Array, /, window: int
) -> Array:
    """Return `ParkinsonVol` over whole high/low series."""
    h, lo = _prices(high, "high"), _prices(low, "low")
    _window(window, 1)
    terms = np.log(h / lo) ** 2
    if terms.size < window:
        return np.full(terms.size, np.nan)
    sums = sliding_window_view(terms, window).sum(axis=1)
    return _padded(np.sqrt(sums / (4.0 * _LN2 * window)), terms.size, window - 1)


class GarmanKlassVol(_Rolling):
    """Estimate per-bar volatility from OHLC (Garman-Klass 1980).

    `sigma^2 = mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2)`; each term is >= 0 on a valid bar
    because `|ln(C/O)| <= ln(H/L)` there.
    """

    __slots__ = ()

    def update(self, open_: float, high: float, low: float, close: float, /) -> float | None:
        """Take the next bar; return the volatility once the window is full."""
        _bar(open_, high, low, close)
        hl, co = math.log(high / low), math.log(close / open_)
        return self._push(0.5 * hl * hl - _GK_CLOSE * co * co)

    def _value(self, buf: deque[float]) -> float:
        return math.sqrt(math.fsum(buf) / len(buf))


def garman_klass_vol(
    open_: Iterable[float] | Array,
    high: Iterable[float] | Array,
    low: Iterable[float] | Array,
    close: Iterable[float] | Array,
    /,
    window: int,
) -> Array:
    """Return `GarmanKlassVol` over whole OHLC series."""
    o, h = _prices(open_, "open"), _prices(high, "high")
    lo, c = _prices(low, "low"), _prices(close, "close")
    _window(window, 1)
    terms = 0.5 * np.log(h / lo) ** 2 - _GK_CLOSE * np.log(c / o) ** 2
    if terms.size < window:
        return np.full(terms.size, np.nan)
    sums = sliding_window_view(terms, window).sum(axis=1)
    return _padded(np.sqrt(sums / window), terms.size, window - 1)


class EfficiencyRatio(_Rolling):
    """Measure trend strength as Kaufman's efficiency ratio over `window` bars, in [0, 1].

    `ER = |p_t - p_{t-N}| / sum_{i=t-N+1..t} |p_i - p_{i-1}|`: 1 is a straight line, near 0 is
    noise that goes nowhere; a flat window (no movement at all) is 0.
    """

    __slots__ = ()
    _extra = 1

    def update(self, price: float, /) -> float | None:
        """Take the next price; return the ratio once `window + 1` prices are in."""
        return self._push(_positive("price", price))

    def _value(self, buf: deque[float]) -> float:
        ref = buf[-1]
        d = [p - ref for p in buf]
        path = math.fsum(abs(b - a) for a, b in itertools.pairwise(d))
        return 0.0 if path == 0.0 else abs(d[-1] - d[0]) / path


def efficiency_ratio(prices: Iterable[float] | Array, /, window: int) -> Array:
    """Return `EfficiencyRatio` over a whole price series."""
    p = _prices(prices)
    _window(window, 1)
    if p.size < window + 1:
        return np.full(p.size, np.nan)
    w = sliding_window_view(p, window + 1)
    d = w - w[:, -1:]
    path = np.abs(np.diff(d, axis=1)).sum(axis=1)
    net = np.abs(d[:, -1] - d[:, 0])
    er = np.divide(net, path, out=np.zeros_like(net), where=path != 0.0)
    return _padded(er, p.size, window)


class Momentum(_Rolling):
    """Measure momentum as the log return over the last `window` bars: `ln(p_t / p_{t-N})`."""

    __slots__ = ()
    _extra = 1

    def update(self, price: float, /) -> float | None:
        """Take the next price; return the momentum once `window + 1` prices are in."""
        return self._push(_positive("price", price))

    def _value(self, buf: deque[float]) -> float:
        return math.log(buf[-1] / buf[0])


def momentum(prices: Iterable[float] | Array, /, window: int) -> Array:
    """Return `Momentum` over a whole price series."""
    p = _prices(prices)
    _window(window, 1)
    out = np.full(p.size, np.nan)
    if p.size > window:
        out[window:] = np.log(p[window:] / p[:-window])
    return out


class ZScore(_Rolling):
    """Measure mean reversion as the z-score of the last price in its window.

    `z = (p_t - mean) / std` over the last `window` prices including `p_t`, sample std (ddof 1);
    a flat window is 0 (the price is its mean).
    """

    __slots__ = ()
    _least = 2

    def update(self, price: float, /) -> float | None:
        """Take the next price; return its z-score once the window is full."""
        return self._push(_positive("price", price))

    def _value(self, buf: deque[float]) -> float:
        ref = buf[-1]
        d = [p - ref for p in buf]  # the last price is 0 after the shift
        n = len(d)
        mean = math.fsum(d) / n
        var = math.fsum((x - mean) ** 2 for x in d) / (n - 1)
        return 0.0 if var == 0.0 else -mean / math.sqrt(var)


def zscore(prices: Iterable[float] | Array, /, window: int) -> Array:
    """Return `ZScore` over a whole price series."""
    p = _prices(prices)
    _window(window, 2)
    if p.size < window:
        return np.full(p.size, np.nan)
    w = sliding_window_view(p, window)
    d = w - w[:, -1:]
    mean = d.sum(axis=1) / window
    var = ((d - mean[:, None]) ** 2).sum(axis=1) / (window - 1)
    sd = np.sqrt(var)
    z = np.divide(-mean, sd, out=np.zeros_like(mean), where=var != 0.0)
    return _padded(z, p.size, window - 1)


class OuHalfLife(_Rolling):
    """Estimate the Ornstein-Uhlenbeck half-life, in bars, from an AR(1) fit over `window` bars.

    OLS of `p_i - p_{i-1} = a + b * p_{i-1}` over the window's `window` pairs gives
    `phi = 1 + b`, the AR(1) coefficient of the exact OU discretisation; the half-life is
    `-ln 2 / ln(phi)`. `phi >= 1` (no pull back, or a flat window) is `inf`; `phi <= 0`
    (overshooting every bar) is 0: it reverts within one bar.
    """

    __slots__ = ()
    _extra = 1
    _least = 3

    def update(self, price: float, /) -> float | None:
        """Take the next price; return the half-life once `window + 1` prices are in."""
        return self._push(_positive("price", price))

    def _value(self, buf: deque[float]) -> float:
        ref = buf[-1]
        d = [p - ref for p in buf]
        x, y = d[:-1], [b - a for a, b in itertools.pairwise(d)]
        n = len(x)
        mx, my = math.fsum(x) / n, math.fsum(y) / n
        sxx = math.fsum((xi - mx) ** 2 for xi in x)
        if sxx == 0.0:
            return math.inf
        sxy = math.fsum((xi - mx) * (yi - my) for xi, yi in zip(x, y, strict=True))
        return _half_life(1.0 + sxy / sxx)


def _half_life(phi: float) -> float:
    if phi >= 1.0:
        return math.inf
    if phi <= 0.0:
        return 0.0
    return -_LN2 / math.log(phi)


def ou_half_life(prices: Iterable[float] | Array, /, window: int) -> Array:
    """Return `OuHalfLife` over a whole price series."""
    p = _prices(prices)
    _window(window, 3)
    if p.size < window + 1:
        return np.full(p.size, np.nan)
    w = sliding_window_view(p, window + 1)
    d = w - w[:, -1:]
    x, y = d[:, :-1], np.diff(d, axis=1)
    xc = x - (x.sum(axis=1) / window)[:, None]
    yc = y - (y.sum(axis=1) / window)[:, None]
    sxx = (xc * xc).sum(axis=1)
    sxy = (xc * yc).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(sxx == 0.0, 1.0, 1.0 + sxy / np.where(sxx == 0.0, 1.0, sxx))
        inside = (phi > 0.0) & (phi < 1.0)
        hl = np.where(phi >= 1.0, np.inf, 0.0)
        hl[inside] = -_LN2 / np.log(phi[inside])
    return _padded(hl, p.size, window)
