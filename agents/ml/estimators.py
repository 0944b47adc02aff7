"""Estimate the Avellaneda-Stoikov inputs online: sigma from prices, A and k from trades.

The quoter needs `sigma` (mid volatility) and the order-arrival intensity
`lambda(delta) = A exp(-k delta)` of market orders reaching `delta` away from the mid. Both are
estimated from the stream the agent already sees, deterministically (no randomness; scipy's
least squares is deterministic for given inputs), from bounded buffers, and snapshot to frozen
structs.

A fit can fail (too few distinct distances, a diverging optimiser, a non-positive parameter).
A failure never passes silently and never erases what is known: the returned `FitResult` says
`ok=False` with the reason and carries the last good `A` and `k` on. The quoter stays off until
`IntensityEstimator.ready` (enough trades and a first good fit). Formulas: docs/ml.md.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from typing import Self

import msgspec
import numpy as np

__all__ = [
    "FitResult",
    "IntensityEstimator",
    "IntensityState",
    "SigmaEstimator",
    "SigmaState",
    "fit_intensity",
]

NS_PER_SEC = 1_000_000_000


# --- sigma -----------------------------------------------------------------------------------


class SigmaState(msgspec.Struct, frozen=True, kw_only=True):
    """Hold a `SigmaEstimator`: parameters, the open interval and the window of returns."""

    interval_ns: int
    window: int
    bucket: int | None = None
    last_price: float | None = None
    close_bucket: int | None = None
    close_price: float | None = None
    returns: tuple[tuple[float, float], ...] = ()


class SigmaEstimator:
    """Estimate the volatility of log prices per sqrt(second) from irregular prices.

    Prices are sampled at the end of each `interval_ns` grid interval that saw one (previous-tick
    sampling, which damps bid-ask bounce compared with tick-by-tick returns). Between two sampled
    closes `dt` seconds apart the log return `r` is kept; over the last `window` of them
    `sigma = sqrt(sum r^2 / sum dt)` (realised variance per unit time, not demeaned: the drift over
    minutes is negligible next to the noise). The absolute sigma AS wants is `sigma * mid`.
    """

    __slots__ = (
        "_bucket",
        "_close_bucket",
        "_close_price",
        "_last",
        "_returns",
        "_value",
        "interval_ns",
        "window",
    )

    def __init__(self, *, interval_ns: int = 60 * NS_PER_SEC, window: int = 240) -> None:
        if interval_ns <= 0:
            raise ValueError(f"`interval_ns` must be > 0, got {interval_ns}")
        if window < 2:
            raise ValueError(f"`window` must be >= 2, got {window}")
        self.interval_ns = interval_ns
        self.window = window
        self._bucket: int | None = None  # grid interval of the latest price
        self._last: float | None = None
        self._close_bucket: int | None = None  # last sampled close
        self._close_price: float | None = None
        self._returns: deque[tuple[float, float]] = deque(maxlen=window)  # (r, dt_secs)
        self._value: float | None = None  # cached: it changes only when an interval closes

    @property
    def ready(self) -> bool:
        """Say whether the window of returns is full."""
        return len(self._returns) == self.window

    def update(self, ts_ns: int, price: float, /) -> float | None:
        """Take a price at `ts_ns`; return sigma per sqrt(second) once the window is full."""
        if not (math.isfinite(price) and price > 0.0):
            raise ValueError(f"`price` must be finite and > 0, got {price!r}")
        bucket = ts_ns // self.interval_ns
        if self._bucket is not None and bucket < self._bucket:
            raise ValueError(f"`ts_ns` must not go back in time, got {ts_ns}")
        if self._bucket is not None and bucket > self._bucket:
            self._close(self._bucket, self._last)
        self._bucket, self._last = bucket, price
        return self.value()

    def _close(self, bucket: int, price: float | None) -> None:
        assert price is not None
        if self._close_bucket is not None and self._close_price is not None:
            dt = (bucket - self._close_bucket) * self.interval_ns / NS_PER_SEC
            self._returns.append((math.log(price / self._close_price), dt))
            self._value = self._compute()
        self._close_bucket, self._close_price = bucket, price

    def value(self) -> float | None:
        """Return sigma per sqrt(second), or `None` until the window is full."""
        return self._value

    def _compute(self) -> float | None:
        if not self.ready:
            return None
        var = math.fsum(r * r for r, _ in self._returns)
        return math.sqrt(var / math.fsum(dt for _, dt in self._returns))

    def snapshot(self) -> SigmaState:
        """Return the parameters and state as a frozen struct."""
        return SigmaState(
            interval_ns=self.interval_ns,
            window=self.window,
            bucket=self._bucket,
            last_price=self._last,
            close_bucket=self._close_bucket,
            close_price=self._close_price,
            returns=tuple(self._returns),
        )

    @classmethod
    def restore(cls, state: SigmaState, /) -> Self:
        """Rebuild the estimator a snapshot was taken of."""
        est = cls(interval_ns=state.interval_ns, window=state.window)
        est._bucket, est._last = state.bucket, state.last_price
        est._close_bucket, est._close_price = state.close_bucket, state.close_price
        est._returns.extend(state.returns)
        est._value = est._compute()
        return est


# --- order-arrival intensity -----------------------------------------------------------------


class FitResult(msgspec.Struct, frozen=True, kw_only=True):
    """Report one intensity fit: whether it worked, why not, and the estimate now in force.

    On failure `A` and `k` are the last good estimate (`None` if there was none) and `reason`
    says what went wrong, in the project's error style.
    """

    ok: bool
    A: float | None
    k: float | None
    reason: str = ""
    trades: int = 0
    """Trades the fit used."""
    span_secs: float = 0.0
    """Time the trades cover: counts are divided by it."""


def _intensity(delta: np.ndarray, a: float, k: float) -> np.ndarray:
    return a * np.exp(-k * delta)


def fit_intensity(
    distances: np.ndarray, span_secs: float, /, *, bucket: float, buckets: int
) -> tuple[float, float]:
    """Fit `A exp(-k delta)` to market-order distances from the mid seen over `span_secs`.

    For `delta_i = i * bucket` (`i < buckets`), `lambda_i` is the number of trades at distance
    `>= delta_i` per second: the rate at which a quote `delta_i` from the mid would be reached.
    Empty levels are dropped; a line through `(delta_i, ln lambda_i)` gives the starting point
    and `curve_fit` then fits the exponential itself, weighting each level by its Poisson error
    `sqrt(count)`. Raise `ValueError` with the reason when no valid fit exists.
    """
    if not (math.isfinite(span_secs) and span_secs > 0.0):
        raise ValueError(f"`span_secs` must be finite and > 0, got {span_secs!r}")
    d = np.asarray(distances, dtype=np.float64)
    levels = np.arange(buckets, dtype=np.float64) * bucket
    counts = (d.size - np.searchsorted(np.sort(d), levels, side="left")).astype(np.float64)
    keep = counts > 0.0
    if int(keep.sum()) < 3 or np.unique(counts[keep]).size < 2:
        raise ValueError(
            f"`distances` must reach at least 3 levels with differing counts, got counts "
            f"{counts.astype(int).tolist()}"
        )
    x, c = levels[keep], counts[keep]
    lam = c / span_secs
    slope, intercept = np.polyfit(x, np.log(lam), 1)
    p0 = (math.exp(intercept), max(-slope, 1e-12))
    # Imported here, not at the top: scipy.optimize costs ~40 MiB of memory to import, and
    # strategies that never fit (the bar market maker) should not carry it.
    from scipy.optimize import OptimizeWarning, curve_fit

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # A singular covariance is no reason to distrust the parameters; checked below.
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            popt, _ = curve_fit(
                _intensity, x, lam, p0=p0, sigma=np.sqrt(c) / span_secs, maxfev=2000
            )
        except (RuntimeError, ValueError, FloatingPointError) as exc:
            raise ValueError(f"curve_fit failed: {exc}") from exc
    a, k = float(popt[0]), float(popt[1])
    if not (math.isfinite(a) and math.isfinite(k) and a > 0.0 and k > 0.0):
        raise ValueError(f"fit must give finite `A` > 0 and `k` > 0, got A={a!r} k={k!r}")
    return a, k


class IntensityState(msgspec.Struct, frozen=True, kw_only=True):
    """Hold an `IntensityEstimator`: parameters, the trade window and the last good fit."""

    bucket: float
    buckets: int
    max_trades: int
    min_trades: int
    refit_every: int
    trades: tuple[tuple[int, float], ...] = ()
    seen: int = 0
    A: float | None = None
    k: float | None = None


class IntensityEstimator:
    """Estimate `A` and `k` of `lambda(delta) = A exp(-k delta)` online from trades.

    Keep the last `max_trades` trades as `(ts_ns, |price - mid|)`; every `refit_every` trades
    (once `min_trades` are in) fit them with `fit_intensity` over the span they cover. `mid` is
    the mid just before the trade: the caller's book, or a proxy when only trades are known.
    """

    __slots__ = (
        "_a",
        "_k",
        "_seen",
        "_trades",
        "bucket",
        "buckets",
        "max_trades",
        "min_trades",
        "refit_every",
    )

    def __init__(
        self,
        *,
        bucket: float,
        buckets: int = 20,
        max_trades: int = 5000,
        min_trades: int = 500,
        refit_every: int = 100,
    ) -> None:
        if not (math.isfinite(bucket) and bucket > 0.0):
            raise ValueError(f"`bucket` must be finite and > 0, got {bucket!r}")
        if buckets < 3:
            raise ValueError(f"`buckets` must be >= 3, got {buckets}")
        if not 2 <= min_trades <= max_trades:
            raise ValueError(
                f"`min_trades` must be in [2, max_trades={max_trades}], got {min_trades}"
            )
        if refit_every < 1:
            raise ValueError(f"`refit_every` must be >= 1, got {refit_every}")
        self.bucket, self.buckets = bucket, buckets
        self.max_trades, self.min_trades, self.refit_every = max_trades, min_trades, refit_every
        self._trades: deque[tuple[int, float]] = deque(maxlen=max_trades)
        self._seen = 0
        self._a: float | None = None
        self._k: float | None = None

    @property
    def ready(self) -> bool:
        """Say whether quoting may start: `min_trades` seen and a good fit made."""
        return self._seen >= self.min_trades and self._a is not None

    @property
    def estimate(self) -> tuple[float, float] | None:
        """Return the last good `(A, k)`, or `None` before the first good fit."""
        return None if self._a is None or self._k is None else (self._a, self._k)

    def update(self, ts_ns: int, price: float, mid: float, /) -> FitResult | None:
        """Take a trade; return the `FitResult` when this trade triggers a refit, else `None`."""
        if not (math.isfinite(price) and math.isfinite(mid)):
            raise ValueError(f"`price` and `mid` must be finite, got {price!r} and {mid!r}")
        if self._trades and ts_ns < self._trades[-1][0]:
            raise ValueError(f"`ts_ns` must not go back in time, got {ts_ns}")
        self._trades.append((ts_ns, abs(price - mid)))
        self._seen += 1
        if self._seen < self.min_trades or self._seen % self.refit_every:
            return None
        return self.fit(ts_ns)

    def fit(self, now_ns: int, /) -> FitResult:
        """Fit the buffered trades as of `now_ns`; keep the last good estimate on failure."""
        n = len(self._trades)
        span = (now_ns - self._trades[0][0]) / NS_PER_SEC if n else 0.0
        try:
            if n < 2:
                raise ValueError(f"fit needs >= 2 trades, got {n}")
            dist = np.fromiter((d for _, d in self._trades), dtype=np.float64, count=n)
            a, k = fit_intensity(dist, span, bucket=self.bucket, buckets=self.buckets)
        except ValueError as exc:
            return FitResult(
                ok=False, A=self._a, k=self._k, reason=str(exc), trades=n, span_secs=span
            )
        self._a, self._k = a, k
        return FitResult(ok=True, A=a, k=k, trades=n, span_secs=span)

    def snapshot(self) -> IntensityState:
        """Return the parameters, trade window and last good fit as a frozen struct."""
        return IntensityState(
            bucket=self.bucket,
            buckets=self.buckets,
            max_trades=self.max_trades,
            min_trades=self.min_trades,
            refit_every=self.refit_every,
            trades=tuple(self._trades),
            seen=self._seen,
            A=self._a,
            k=self._k,
        )

    @classmethod
    def restore(cls, state: IntensityState, /) -> Self:
        """Rebuild the estimator a snapshot was taken of."""
        est = cls(
            bucket=state.bucket,
            buckets=state.buckets,
            max_trades=state.max_trades,
            min_trades=state.min_trades,
            refit_every=state.refit_every,
        )
        est._trades.extend(state.trades)
        est._seen, est._a, est._k = state.seen, state.A, state.k
        return est
