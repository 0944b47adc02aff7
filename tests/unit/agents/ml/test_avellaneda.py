"""Avellaneda-Stoikov quotes: the closed forms by hand, skew against inventory, exact prices."""

from __future__ import annotations

import math
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.ml.avellaneda import AvellanedaStoikovConfig, Quote, quote

D = Decimal

# The paper's numerical example: gamma 0.1, sigma 2, k 1.5, T 1.
PAPER = AvellanedaStoikovConfig(
    gamma=0.1,
    sigma=2.0,
    k=1.5,
    tick_size=D("0.01"),
    lot_size=D("0.001"),
    order_size=D("1"),
    max_inventory=D("5"),
)


def test_finite_horizon_closed_form_by_hand() -> None:
    # s = 100, q = 2 orders, t = 0.5, T = 1:
    #   gamma sigma^2 (T - t) = 0.1 * 4 * 0.5                     = 0.2
    #   r = s - q * 0.2 = 100 - 0.4                                = 99.6
    #   (2 / gamma) ln(1 + gamma / k) = 20 * ln(16/15) = 20 * 0.0645385211 = 1.290770423
    #   spread = 0.2 + 1.290770423                                 = 1.490770423
    #   bid = 99.6 - 0.745385211 = 98.854614789  -> down to 0.01:  98.85
    #   ask = 99.6 + 0.745385211 = 100.345385211 -> up to 0.01:    100.35
    got = quote(100.0, 2, 0.5, PAPER)
    assert got.reservation == pytest.approx(99.6, abs=1e-12)
    assert got.spread == pytest.approx(0.2 + 20 * math.log(16 / 15), abs=1e-12)
    assert got.spread == pytest.approx(1.490770423, abs=1e-9)
    assert (got.bid, got.ask) == (D("98.85"), D("100.35"))
    assert (got.bid_size, got.ask_size) == (D("1"), D("1"))
    assert got.q == 2.0


def test_finite_horizon_at_the_end_is_the_pure_spread_around_the_mid() -> None:
    # t >= T: no inventory term, spread = 20 ln(16/15) = 1.290770423, centred on s = 100.
    got = quote(100.0, 3, 2.0, PAPER)
    assert got.reservation == 100.0
    assert (got.bid, got.ask) == (D("99.35"), D("100.65"))  # 99.3546..., 100.6453...


def test_infinite_horizon_closed_form_by_hand() -> None:
    # q = 1 order, q_max = 5, omega = 0.5 gamma^2 sigma^2 (q_max + 1)^2 = 0.5 * 0.04 * 36 = 0.72.
    # V(n) = 2 omega - gamma^2 sigma^2 n^2: V(0) = 1.44, V(1) = 1.40, V(2) = 1.28.
    #   r_b = s + (1/gamma) ln(V(2)/V(1)) = 100 + 10 ln(1.28/1.40) = 100 - 0.896122 = 99.103878
    #   r_a = s - (1/gamma) ln(V(0)/V(1)) = 100 - 10 ln(1.44/1.40) = 100 - 0.281709 = 99.718291
    #   edge = (1/gamma) ln(1 + gamma/k) = 10 ln(16/15) = 0.645385
    #   bid = 99.103878 - 0.645385 = 98.458493 -> 98.45; ask = 99.718291 + 0.645385 = 100.363676
    #   -> 100.37; reservation = (r_a + r_b) / 2 = 99.411085
    params = msgspec.structs.replace(PAPER, horizon="infinite")
    got = quote(100.0, 1, 0.0, params)
    r_b = 100 + 10 * math.log(1.28 / 1.40)
    r_a = 100 - 10 * math.log(1.44 / 1.40)
    assert got.reservation == pytest.approx((r_a + r_b) / 2, abs=1e-9)
    assert got.reservation == pytest.approx(99.411085, abs=1e-6)
    assert got.spread == pytest.approx(r_a - r_b + 20 * math.log(16 / 15), abs=1e-9)
    assert (got.bid, got.ask) == (D("98.45"), D("100.37"))
    # Flat: symmetric around the mid. At the cap: the side that would pass it is off.
    flat = quote(100.0, 0, 0.0, params)
    assert flat.reservation == 100.0
    assert (flat.bid, flat.ask) == (D("99.07"), D("100.93"))
    capped = quote(100.0, 5, 0.0, params)
    assert capped.bid is None and capped.bid_size == 0 and capped.spread is None
    assert capped.ask is not None


def test_quotes_skew_against_inventory() -> None:
    for params in (PAPER, msgspec.structs.replace(PAPER, horizon="infinite")):
        flat, long, short = (quote(100.0, q, 0.0, params) for q in (0, 2, -2))
        assert long.bid is not None and flat.bid is not None and short.bid is not None
        assert long.ask is not None and flat.ask is not None and short.ask is not None
        assert long.bid < flat.bid < short.bid
        assert long.ask < flat.ask < short.ask
        assert long.reservation < flat.reservation < short.reservation


def test_inventory_normalisation_and_sizes() -> None:
    # In orders: q = 0.5 BTC with 0.25 BTC orders is q = 2; as a fraction of 5 BTC it is 0.1.
    p = msgspec.structs.replace(PAPER, order_size=D("0.25"))
    assert quote(100.0, D("0.5"), 0.0, p).q == 2.0
    frac = msgspec.structs.replace(p, inventory_unit="max_inventory")
    assert quote(100.0, D("0.5"), 0.0, frac).q == 0.1
    # Sizes round down to the lot and never take |q| past the cap.
    odd = msgspec.structs.replace(PAPER, order_size=D("0.0105"), lot_size=D("0.001"))
    assert quote(100.0, 0, 0.0, odd).bid_size == D("0.010")
    near = quote(100.0, D("4.5"), 0.0, PAPER)
    assert (near.bid_size, near.ask_size) == (D("0.500"), D("1"))
    at_short_cap = quote(100.0, D("-5"), 0.0, PAPER)
    assert at_short_cap.ask is None and at_short_cap.ask_size == 0
    assert at_short_cap.bid is not None


def test_min_spread_widens_on_the_grid() -> None:
    # gamma/k small, sigma 0: the model spread is 2/k * ... ~ 0.02; widen to 0.25 around 100.
    p = AvellanedaStoikovConfig(
        gamma=0.01,
        sigma=0.0,
        k=100.0,
        tick_size=D("0.1"),
        lot_size=D("1"),
        order_size=D("1"),
        max_inventory=D("10"),
        min_spread=D("0.25"),
    )
    got = quote(100.0, 0, 0.0, p)
    assert (got.bid, got.ask) == (D("99.8"), D("100.2"))  # 100 -/+ 0.125, rounded outward


def test_params_validate_and_decode_like_config() -> None:
    with pytest.raises(ValueError, match=r"`gamma` must be finite and > 0, got -1\.0"):
        msgspec.structs.replace(PAPER, gamma=-1.0)
    with pytest.raises(ValueError, match="`tick_size` must be > 0, got 0"):
        msgspec.structs.replace(PAPER, tick_size=D(0))
    raw = {
        "gamma": 0.1,
        "sigma": 2.0,
        "k": 1.5,
        "tick_size": "0.01",
        "lot_size": "0.001",
        "order_size": "1",
        "max_inventory": "5",
    }
    assert msgspec.convert(raw, AvellanedaStoikovConfig) == PAPER
    with pytest.raises(msgspec.ValidationError, match="unknown field `gama`"):
        msgspec.convert({**raw, "gama": 1}, AvellanedaStoikovConfig)
    q = quote(100.0, 1, 0.2, PAPER)
    assert msgspec.json.decode(msgspec.json.encode(q), type=Quote) == q
    with pytest.raises(ValueError, match="`s` must be finite and > 0"):
        quote(0.0, 0, 0.0, PAPER)


params_st = st.builds(
    AvellanedaStoikovConfig,
    gamma=st.floats(1e-3, 5.0),
    sigma=st.floats(0.0, 5.0),
    k=st.floats(0.05, 50.0),
    tick_size=st.sampled_from([D("0.01"), D("0.1"), D("0.5"), D("1")]),
    lot_size=st.just(D("0.001")),
    order_size=st.sampled_from([D("0.1"), D("1")]),
    max_inventory=st.sampled_from([D("2"), D("10")]),
    horizon=st.sampled_from(["finite", "infinite"]),
    end_time=st.floats(0.1, 10.0),
    min_spread=st.sampled_from([D(0), D("0.05"), D("0.3"), D("2")]),
)
inventory = st.decimals(min_value=-2, max_value=2, places=3)


def on_grid(x: Decimal, step: Decimal) -> bool:
    return (x / step) == (x / step).to_integral_value()


@given(params_st, st.floats(50.0, 5000.0), inventory, st.floats(0.0, 1.0))
def test_quotes_are_exact_ordered_and_wide_enough(
    p: AvellanedaStoikovConfig, s: float, q: Decimal, t: float
) -> None:
    got = quote(s, q, t, p)
    for price in (got.bid, got.ask):
        if price is not None:
            assert isinstance(price, Decimal) and on_grid(price, p.tick_size)
    if got.bid is not None:
        assert got.bid <= Decimal(repr(got.reservation))
    if got.ask is not None:
        assert got.ask >= Decimal(repr(got.reservation))
    if got.bid is not None and got.ask is not None:
        assert got.ask - got.bid >= max(p.min_spread, p.tick_size)
    for size in (got.bid_size, got.ask_size):
        assert on_grid(size, p.lot_size) and 0 <= size <= p.order_size


@given(params_st, st.floats(50.0, 5000.0), inventory, inventory, st.floats(0.0, 1.0))
def test_quotes_are_monotone_in_inventory(
    p: AvellanedaStoikovConfig, s: float, q1: Decimal, q2: Decimal, t: float
) -> None:
    lo, hi = sorted((q1, q2))
    a, b = quote(s, lo, t, p), quote(s, hi, t, p)
    assert b.reservation <= a.reservation
    if p.horizon == "finite" or p.min_spread == 0:
        # In the infinite horizon the model spread varies with q, so the minimum-spread widening
        # can move one side against the trend; the model prices stay monotone (above).
        if a.bid is not None and b.bid is not None:
            assert b.bid <= a.bid
        if a.ask is not None and b.ask is not None:
            assert b.ask <= a.ask
