"""Online sigma and A, k: recovered from synthetic flow, failures kept loud, real data plausible."""

from __future__ import annotations

import csv
import gzip
import math

import msgspec
import numpy as np
import pytest
import scipy.optimize

from agents.ml.estimators import (
    FitResult,
    IntensityEstimator,
    IntensityState,
    SigmaEstimator,
    SigmaState,
    fit_intensity,
)
from tests.conftest import shared_data

NS = 1_000_000_000


def synthetic_trades(a: float, k: float, n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return `n` trade times (ns) and distances from the mid with intensity `a exp(-k delta)`.

    Market orders arrive as a Poisson process of rate `a` (the rate at distance 0); each reaches
    an exponential distance of mean `1/k`, so those reaching `>= delta` arrive at `a e^{-k delta}`.
    """
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.exponential(1.0 / a, n)) * NS
    return ts.astype(np.int64), rng.exponential(1.0 / k, n)


def feed(ie: IntensityEstimator, ts: np.ndarray, dist: np.ndarray) -> list[FitResult]:
    out = []
    for t, d, side in zip(ts.tolist(), dist.tolist(), [1, -1] * (len(ts) // 2 + 1), strict=False):
        r = ie.update(t, 100.0 + side * d, 100.0)
        if r is not None:
            out.append(r)
    return out


def test_intensity_recovers_known_a_and_k() -> None:
    # A = 2 trades/s at the mid, k = 0.8 per price unit; 20,000 trades over ~10,000 s. The count
    # at each level is Poisson, so A's relative error is ~1/sqrt(20,000) = 0.7%: 5% is 7 sigma.
    ts, dist = synthetic_trades(2.0, 0.8, 20_000, seed=11)
    a, k = fit_intensity(dist, (ts[-1] - ts[0]) / NS, bucket=0.25, buckets=16)
    assert a == pytest.approx(2.0, rel=0.05)
    assert k == pytest.approx(0.8, rel=0.05)
    ie = IntensityEstimator(
        bucket=0.25, buckets=16, max_trades=5000, min_trades=2000, refit_every=1000
    )
    results = feed(ie, ts, dist)
    assert ie.ready and all(r.ok for r in results) and len(results) == 19
    for r in results:
        a_hat, k_hat = r.A, r.k
        assert a_hat == pytest.approx(2.0, rel=0.1)
        assert k_hat == pytest.approx(0.8, rel=0.1)


def test_readiness_waits_for_trades_and_a_good_fit() -> None:
    ts, dist = synthetic_trades(2.0, 0.8, 600, seed=1)
    ie = IntensityEstimator(
        bucket=0.25, buckets=16, max_trades=1000, min_trades=500, refit_every=100
    )
    assert feed(ie, ts[:499], dist[:499]) == [] and not ie.ready and ie.estimate is None
    [first] = feed(ie, ts[499:500], dist[499:500])
    assert first.ok and ie.ready and ie.estimate == (first.A, first.k)


def test_degenerate_flow_keeps_the_last_estimate_and_says_why() -> None:
    ts, dist = synthetic_trades(2.0, 0.8, 1000, seed=2)
    ie = IntensityEstimator(
        bucket=0.25, buckets=16, max_trades=1000, min_trades=1000, refit_every=1000
    )
    [good] = feed(ie, ts, dist)
    assert good.ok
    # A thousand trades all exactly at the mid: one level, no slope to fit.
    later = ts[-1] + np.arange(1, 1001, dtype=np.int64) * NS
    [bad] = feed(ie, later, np.zeros(1000))
    assert not bad.ok
    assert "`distances` must reach at least 3 levels" in bad.reason
    assert (bad.A, bad.k) == (good.A, good.k) and ie.estimate == (good.A, good.k) and ie.ready


def test_failure_before_any_good_fit_reports_no_estimate() -> None:
    ie = IntensityEstimator(bucket=0.25, buckets=8, max_trades=10, min_trades=10, refit_every=10)
    results = feed(ie, np.arange(10, dtype=np.int64) * NS, np.full(10, 0.3))
    assert results == [
        FitResult(ok=False, A=None, k=None, reason=results[0].reason, trades=10, span_secs=9.0)
    ]
    assert "counts [10, 10, 0, 0, 0, 0, 0, 0]" in results[0].reason and not ie.ready


def test_optimiser_failure_and_bad_parameters_are_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ts, dist = synthetic_trades(2.0, 0.8, 1000, seed=3)
    ie = IntensityEstimator(
        bucket=0.25, buckets=16, max_trades=1000, min_trades=500, refit_every=500
    )
    [good, _] = feed(ie, ts, dist)

    def diverge(*args: object, **kwargs: object) -> object:
        raise RuntimeError("Optimal parameters not found: maxfev reached")

    monkeypatch.setattr(scipy.optimize, "curve_fit", diverge)
    r = ie.fit(int(ts[-1]))
    assert not r.ok and r.reason.startswith("curve_fit failed: Optimal parameters not found")
    assert (r.A, r.k) == ie.estimate

    monkeypatch.setattr(scipy.optimize, "curve_fit", lambda *a, **kw: (np.array([2.0, -0.5]), None))
    r = ie.fit(int(ts[-1]))
    assert not r.ok and r.reason == "fit must give finite `A` > 0 and `k` > 0, got A=2.0 k=-0.5"
    infinite = (np.array([np.inf, 1.0]), None)
    monkeypatch.setattr(scipy.optimize, "curve_fit", lambda *a, **kw: infinite)
    assert ie.fit(int(ts[-1])).reason.endswith("got A=inf k=1.0")
    assert ie.estimate is not None and good.ok


def test_intensity_snapshot_restores_an_identical_estimator() -> None:
    ts, dist = synthetic_trades(2.0, 0.8, 3000, seed=4)
    a = IntensityEstimator(
        bucket=0.25, buckets=16, max_trades=1000, min_trades=500, refit_every=250
    )
    feed(a, ts[:1700], dist[:1700])
    state = msgspec.msgpack.decode(msgspec.msgpack.encode(a.snapshot()), type=IntensityState)
    b = IntensityEstimator.restore(state)
    assert b.snapshot() == a.snapshot()
    assert feed(a, ts[1700:], dist[1700:]) == feed(b, ts[1700:], dist[1700:])


def test_sigma_by_hand_with_a_gap() -> None:
    # 60 s grid. Closes: 100 (bucket 0), 101 (bucket 1), 101 -> none in bucket 2, 99 (bucket 3).
    # Returns: ln(101/100) over 60 s, ln(99/101) over 120 s (the empty bucket carries the price).
    s = SigmaEstimator(interval_ns=60 * NS, window=2)
    for t, p in ((0, 100.0), (30, 100.5), (59, 100.0), (61, 101.0), (185, 99.0)):
        assert s.update(t * NS, p) is None
    got = s.update(245 * NS, 99.5)  # closes bucket 3
    r1, r2 = math.log(101 / 100), math.log(99 / 101)
    assert got == pytest.approx(math.sqrt((r1 * r1 + r2 * r2) / 180.0), rel=1e-12)
    with pytest.raises(ValueError, match="`ts_ns` must not go back in time"):
        s.update(0, 100.0)


def test_sigma_recovers_a_known_volatility() -> None:
    # GBM with sigma = 0.02 per sqrt(day), observed at Poisson times (mean 5 s) for 10 days,
    # 5-minute grid, 1440-return window (5 days): relative error ~ 1/sqrt(2 * 1440) = 2%.
    rng = np.random.default_rng(5)
    sigma_day = 0.02
    sigma_sec = sigma_day / math.sqrt(86_400)
    dt = rng.exponential(5.0, 172_800)
    logp = math.log(30_000) + np.cumsum(sigma_sec * np.sqrt(dt) * rng.standard_normal(dt.size))
    ts = (np.cumsum(dt) * NS).astype(np.int64)
    s = SigmaEstimator(interval_ns=300 * NS, window=1440)
    got = None
    for t, lp in zip(ts.tolist(), logp.tolist(), strict=True):
        got = s.update(t, math.exp(lp))
    assert got is not None
    assert got * math.sqrt(86_400) == pytest.approx(sigma_day, rel=0.1)
    twin = SigmaEstimator.restore(
        msgspec.json.decode(msgspec.json.encode(s.snapshot()), type=SigmaState)
    )
    assert twin.value() == s.value() and twin.snapshot() == s.snapshot()


@pytest.mark.shared_data
def test_estimates_on_real_kraken_trades_are_plausible() -> None:
    path = shared_data("kraken_btcusdt_trades_20231117_20231122.csv.gz")
    with gzip.open(path, "rt", newline="") as fh:
        rows = [
            (int(r["ts_ms"]) * 1_000_000, float(r["price"]), r["side"]) for r in csv.DictReader(fh)
        ]
    # 5-minute grid, one day of returns per window.
    sigma = SigmaEstimator(interval_ns=300 * NS, window=288)
    # The file has trades, no book: the mid is proxied by the midpoint of the last buyer-initiated
    # (at the ask) and last seller-initiated (at the bid) prices before each trade. Distances up
    # to 40 USDT in 2 USDT levels (about 10 bp of a 36,000 USDT price).
    flow = IntensityEstimator(
        bucket=2.0, buckets=20, max_trades=5000, min_trades=1000, refit_every=500
    )
    last: dict[str, float | None] = {"buy": None, "sell": None}
    sig = None
    fits: list[FitResult] = []
    for ts, price, side in rows:
        sig = sigma.update(ts, price)
        buy, sell = last["buy"], last["sell"]
        if buy is not None and sell is not None:
            r = flow.update(ts, price, (buy + sell) / 2)
            if r is not None:
                fits.append(r)
        last[side] = price
    assert sig is not None and flow.ready
    # BTC's daily volatility was ~2-4% in late 2023; 0.5%-10% per sqrt(day) rules out unit
    # mistakes (per second vs per day is a factor 294) while allowing a calm or a wild week.
    assert 0.005 < sig * math.sqrt(86_400) < 0.10
    assert len(fits) >= 40 and all(f.ok for f in fits)
    rate = len(rows) / ((rows[-1][0] - rows[0][0]) / NS)  # ~0.06 trades per second
    for f in fits:
        assert f.A is not None and f.k is not None and f.A > 0 and f.k > 0
        # A is the rate of trades reaching distance 0, i.e. of all trades: within 5x of the
        # file's average rate (activity varies by hour and the window covers hours).
        assert rate / 5 < f.A < rate * 5
        # 1/k is the mean distance a market order reaches from the mid: more than one tick
        # (0.1 USDT) and less than 1% of the price (~360 USDT).
        assert 0.1 < 1 / f.k < 360
