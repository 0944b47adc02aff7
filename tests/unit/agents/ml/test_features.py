"""Streaming features equal their vectorized twins (1e-9 relative), on random and real data."""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable, Sequence

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import linregress

from agents.ml import features as f
from tests.conftest import shared_data

# Relative tolerance of the brief; the absolute floor only matters for values that are 0 up to
# rounding (a momentum or z-score of a window that went nowhere), where relative error is moot.
RTOL, ATOL = 1e-9, 1e-12
# A half-life above this (phi within 7e-6 of 1: a random walk for any practical purpose) is
# ill-conditioned: it is -ln 2 / ln(phi), so a rounding of 1e-16 in phi is 1e-11 relative at
# 1e5 bars and grows as 1/(1 - phi). Above it the twins must only agree that it is large.
HALF_LIFE_CONDITIONED = 1e5


def assert_twins(stream: Sequence[float | None], vec: np.ndarray) -> None:
    """Assert `None` where the twin is NaN, and equal values elsewhere."""
    assert len(stream) == len(vec)
    got = np.array([np.nan if v is None else v for v in stream])
    assert np.array_equal(np.isnan(got), np.isnan(vec))
    np.testing.assert_allclose(got, vec, rtol=RTOL, atol=ATOL)


@st.composite
def price_paths(draw: st.DrawFn, min_size: int = 1, max_size: int = 80) -> np.ndarray:
    p0 = draw(st.floats(1e-2, 1e6))
    steps = draw(
        st.lists(st.floats(-0.1, 0.1, allow_subnormal=False), min_size=min_size, max_size=max_size)
    )
    # Flat stretches (repeated prices) are where degenerate windows hide: make them likely.
    steps = [0.0 if abs(s) < 0.02 else s for s in steps]
    path: np.ndarray = p0 * np.exp(np.cumsum([0.0, *steps]))
    return path


@st.composite
def bars(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    close = draw(price_paths(max_size=60))
    open_ = np.concatenate([[close[0]], close[:-1]])
    n = close.size
    up = np.array(draw(st.lists(st.floats(0.0, 0.05), min_size=n, max_size=n)))
    down = np.array(draw(st.lists(st.floats(0.0, 0.05), min_size=n, max_size=n)))
    high = np.maximum(open_, close) * np.exp(up)
    low = np.minimum(open_, close) * np.exp(-down)
    return open_, high, low, close


def run(feature: Callable[..., float | None], *columns: np.ndarray) -> list[float | None]:
    return [feature(*row) for row in zip(*(c.tolist() for c in columns), strict=True)]


windows = st.integers(3, 30)


@settings(max_examples=200)
@given(price_paths(), st.floats(0.5, 0.999), st.integers(1, 10))
def test_ewma_vol_twins(p: np.ndarray, lam: float, min_periods: int) -> None:
    est = f.EwmaVol(lam=lam, min_periods=min_periods)
    assert_twins(run(est.update, p), f.ewma_vol(p, lam, min_periods))


@settings(max_examples=200)
@given(bars(), windows)
def test_range_vols_twins(ohlc: tuple[np.ndarray, ...], window: int) -> None:
    o, h, lo, c = ohlc
    assert_twins(run(f.ParkinsonVol(window=window).update, h, lo), f.parkinson_vol(h, lo, window))
    gk = f.GarmanKlassVol(window=window)
    assert_twins(run(gk.update, o, h, lo, c), f.garman_klass_vol(o, h, lo, c, window))


@settings(max_examples=200)
@given(price_paths(), windows)
def test_price_window_twins(p: np.ndarray, window: int) -> None:
    assert_twins(run(f.Momentum(window=window).update, p), f.momentum(p, window))
    assert_twins(run(f.EfficiencyRatio(window=window).update, p), f.efficiency_ratio(p, window))
    assert_twins(run(f.ZScore(window=window).update, p), f.zscore(p, window))


def assert_half_lives(stream: Sequence[float | None], vec: np.ndarray) -> None:
    got = np.array([np.nan if v is None else v for v in stream])
    assert np.array_equal(np.isnan(got), np.isnan(vec))
    ok = ~np.isnan(vec)
    big = (got[ok] > HALF_LIFE_CONDITIONED) | (vec[ok] > HALF_LIFE_CONDITIONED)
    assert np.all((got[ok][big] > HALF_LIFE_CONDITIONED / 10) & (vec[ok][big] > 1e4))
    np.testing.assert_allclose(got[ok][~big], vec[ok][~big], rtol=RTOL, atol=ATOL)


@settings(max_examples=200)
@given(price_paths(), windows)
def test_ou_half_life_twins(p: np.ndarray, window: int) -> None:
    assert_half_lives(run(f.OuHalfLife(window=window).update, p), f.ou_half_life(p, window))


def test_ou_half_life_matches_scipy_and_recovers_a_known_ar1() -> None:
    # An AR(1) around 100 with phi = 0.9: half-life -ln 2 / ln 0.9 = 6.58 bars.
    rng = np.random.default_rng(7)
    x = np.empty(5001)
    x[0] = 100.0
    for i in range(1, x.size):
        x[i] = 100.0 + 0.9 * (x[i - 1] - 100.0) + rng.normal(0.0, 0.5)
    window = 500
    hl = f.ou_half_life(x, window)
    for end in (window, 2000, 5000):
        seg = x[end - window : end + 1]
        fit = linregress(seg[:-1], np.diff(seg))
        assert hl[end] == pytest.approx(-math.log(2) / math.log(1 + fit.slope), rel=1e-9)
    assert float(np.median(hl[window:])) == pytest.approx(-math.log(2) / math.log(0.9), rel=0.15)


def test_hand_values() -> None:
    # Parkinson, one bar H/L = e^0.02: sqrt(0.02^2 / (4 ln 2)) = 0.02 / sqrt(4 ln 2) = 0.012011.
    assert f.ParkinsonVol(window=1).update(100 * math.exp(0.02), 100.0) == pytest.approx(
        0.02 / math.sqrt(4 * math.log(2)), rel=1e-12
    )
    # Garman-Klass, O=100 L=100 H=C=100e^0.02: 0.5*0.02^2 - (2 ln 2 - 1)*0.02^2 = 0.1137*4e-4.
    h = 100 * math.exp(0.02)
    gk = f.GarmanKlassVol(window=1).update(100.0, h, 100.0, h)
    assert gk == pytest.approx(math.sqrt((0.5 - (2 * math.log(2) - 1)) * 0.02**2), rel=1e-12)
    # Efficiency ratio of 100 -> 102 -> 101 -> 103: net 3, path 2 + 1 + 2 = 5, ER = 0.6.
    er = f.EfficiencyRatio(window=3)
    assert [er.update(p) for p in (100.0, 102.0, 101.0, 103.0)][-1] == pytest.approx(0.6)
    # Z-score of 1, 2, 3: mean 2, sample std 1, last is +1.
    z = f.ZScore(window=3)
    assert [z.update(p) for p in (1.0, 2.0, 3.0)][-1] == pytest.approx(1.0)
    # EWMA, lam 0.5: r1 = ln 1.1, r2 = 0 -> var = 0.5 * r1^2, vol = r1 / sqrt 2.
    e = f.EwmaVol(lam=0.5, min_periods=2)
    assert [e.update(p) for p in (100.0, 110.0, 110.0)] == [
        None,
        None,
        pytest.approx(math.log(1.1) / math.sqrt(2)),
    ]
    # Flat windows: no trend, at the mean, never reverting.
    assert f.EfficiencyRatio(window=2).update(5.0) is None
    assert f.efficiency_ratio([5.0] * 4, 2)[-1] == 0.0
    assert f.zscore([5.0] * 4, 3)[-1] == 0.0
    assert f.ou_half_life([5.0] * 6, 4)[-1] == math.inf


def test_bad_input_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match=r"`price` must be finite and > 0, got -1\.0"):
        f.Momentum(window=3).update(-1.0)
    with pytest.raises(ValueError, match="`window` must be >= 2, got 1"):
        f.ZScore(window=1)
    with pytest.raises(ValueError, match="bar must have `low`"):
        f.GarmanKlassVol(window=2).update(100.0, 99.0, 98.0, 100.0)
    with pytest.raises(ValueError, match="`lam` must be in"):
        f.EwmaVol(lam=1.0)


@pytest.mark.parametrize("codec", [msgspec.msgpack, msgspec.json])
def test_snapshot_restore_continues_identically(codec: object) -> None:
    rng = np.random.default_rng(3)
    p = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))
    made: list[tuple[object, Callable[[float], float | None]]] = []
    for cls in (f.Momentum, f.EfficiencyRatio, f.ZScore, f.OuHalfLife):
        made.append((cls(window=20), cls))  # type: ignore[arg-type]
    ewma = f.EwmaVol(lam=0.9, min_periods=5)
    for x in p[:60]:
        ewma.update(float(x))
        for est, _ in made:
            est.update(float(x))  # type: ignore[attr-defined]
    enc, dec = codec.encode, codec.decode  # type: ignore[attr-defined]
    ewma2 = f.EwmaVol.restore(dec(enc(ewma.snapshot()), type=f.EwmaVolState))
    twins = [
        (est, cls.restore(dec(enc(est.snapshot()), type=f.WindowState)))  # type: ignore[attr-defined]
        for est, cls in made
    ]
    for x in p[60:]:
        assert ewma.update(float(x)) == ewma2.update(float(x))
        for a, b in twins:
            assert a.update(float(x)) == b.update(float(x))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="`kind` must be 'ZScore'"):
        f.ZScore.restore(f.Momentum(window=3).snapshot())


@pytest.mark.shared_data
def test_twins_agree_on_real_binance_candles() -> None:
    path = shared_data("binance_btcusdt_1m_20250520_20250818.csv.gz")
    with gzip.open(path, "rt") as fh:
        data = np.loadtxt(fh, delimiter=",", skiprows=1, max_rows=20_000)
    o, h, lo, c = (np.ascontiguousarray(data[:, i]) for i in (1, 2, 3, 4))
    assert_twins(run(f.EwmaVol(lam=0.94, min_periods=30).update, c), f.ewma_vol(c, 0.94, 30))
    assert_twins(run(f.ParkinsonVol(window=60).update, h, lo), f.parkinson_vol(h, lo, 60))
    gk = f.GarmanKlassVol(window=60)
    assert_twins(run(gk.update, o, h, lo, c), f.garman_klass_vol(o, h, lo, c, 60))
    for cls, twin in (
        (f.Momentum, f.momentum),
        (f.EfficiencyRatio, f.efficiency_ratio),
        (f.ZScore, f.zscore),
    ):
        assert_twins(run(cls(window=60).update, c), twin(c, 60))
    assert_half_lives(run(f.OuHalfLife(window=240).update, c), f.ou_half_life(c, 240))
    # Plausibility: 1m BTC volatility is a few bp per bar; Parkinson and GK agree within 2x.
    pk, gkv = f.parkinson_vol(h, lo, 60), f.garman_klass_vol(o, h, lo, c, 60)
    assert 1e-4 < float(np.nanmedian(gkv)) < 5e-3
    assert 0.5 < float(np.nanmedian(pk / gkv)) < 2.0
