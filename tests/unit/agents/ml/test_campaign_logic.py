"""The campaign model: signal, levels with hysteresis, volatility sizing and order caps."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.ml.campaign_logic import (
    CampaignModelConfig,
    CampaignSignal,
    ScaleOutStep,
    campaign_size,
    ceil_to,
    floor_to,
    fraction_at,
    limit_price,
    next_level,
    order_for,
)
from agents.ml.features import efficiency_ratio, ewma_vol, momentum

D = Decimal
MODEL = CampaignModelConfig()  # steps: < 0.8 -> 0.6, < 0.6 -> 0.3; exit < 0.3; band 0.05


def walk(n: int, seed: int, drift: float = 0.0) -> list[float]:
    rng = random.Random(seed)
    p, out = 100.0, []
    for _ in range(n):
        p *= math.exp(drift + rng.gauss(0.0, 0.002))
        out.append(p)
    return out


# -- the signal -------------------------------------------------------------------------------


def test_signal_is_efficiency_times_momentum_in_sigmas_smoothed_by_an_ema() -> None:
    model = CampaignModelConfig(momentum_bars=20, efficiency_bars=15, vol_min_periods=10)
    closes = walk(400, seed=3, drift=0.0003)
    sig = CampaignSignal(model)
    got = [sig.update(c) for c in closes]
    # The same definition from the features' vectorized twins.
    raw = (
        efficiency_ratio(closes, 15)
        * momentum(closes, 20)
        / (ewma_vol(closes, model.vol_lam, 10) * math.sqrt(20))
    )
    alpha, ema = 2.0 / (model.smooth_bars + 1), None
    want: list[float | None] = []
    for x in raw:
        if np.isnan(x):
            want.append(None)
            continue
        ema = x if ema is None else ema + alpha * (x - ema)
        want.append(ema)
    assert [g is None for g in got] == [w is None for w in want]
    assert sum(g is None for g in got) == 20  # warm once momentum has 21 prices
    for g, w in zip(got, want, strict=True):
        if g is not None:
            assert w is not None
            assert g == pytest.approx(w, rel=1e-9, abs=1e-12)


def test_a_rising_market_scores_high_and_a_falling_one_negative() -> None:
    model = CampaignModelConfig(momentum_bars=20, efficiency_bars=20, vol_min_periods=10)
    up, down = CampaignSignal(model), CampaignSignal(model)
    for c in walk(200, seed=1, drift=0.002):
        s_up = up.update(c)
    for c in walk(200, seed=1, drift=-0.002):
        s_down = down.update(c)
    assert s_up is not None and s_up > model.entry_strength
    assert s_down is not None and s_down < 0


def test_signal_snapshot_restores_an_equal_signal() -> None:
    closes = walk(300, seed=8, drift=0.0002)
    a = CampaignSignal(MODEL)
    for c in closes[:200]:
        a.update(c)
    b = CampaignSignal(MODEL, a.snapshot())
    assert [a.update(c) for c in closes[200:]] == [b.update(c) for c in closes[200:]]


# -- levels -----------------------------------------------------------------------------------


def test_levels_scale_out_step_by_step_and_back_in_only_past_the_band() -> None:
    assert next_level(0, 1.2, MODEL) == 0
    assert next_level(0, 0.79, MODEL) == 1  # partial exit: hold 0.6
    assert next_level(1, 0.82, MODEL) == 1  # above 0.8 but inside the band: no flapping
    assert next_level(1, 0.86, MODEL) == 0  # re-entry
    assert next_level(0, 0.55, MODEL) == 2  # both steps at once
    assert next_level(2, 0.64, MODEL) == 2
    assert next_level(2, 0.66, MODEL) == 1
    assert next_level(2, 0.9, MODEL) == 0
    assert next_level(2, 0.31, MODEL) == 2
    assert next_level(2, 0.29, MODEL) is None  # the final exit
    assert next_level(0, -1.0, MODEL) is None
    assert [fraction_at(i, MODEL) for i in range(3)] == [D(1), D("0.6"), D("0.3")]


@given(st.lists(st.floats(-2.0, 3.0, allow_nan=False), min_size=1, max_size=60))
def test_levels_stay_in_range_and_fractions_fall_with_the_ratio(ratios: list[float]) -> None:
    level: int | None = 0
    for r in ratios:
        assert level is not None
        before = level
        level = next_level(level, r, MODEL)
        if level is None:
            assert r < MODEL.exit_ratio
            break
        assert 0 <= level <= len(MODEL.scale_out)
        if r < MODEL.scale_out[-1].ratio:
            assert level == len(MODEL.scale_out)  # below every step: the smallest fraction
        if level > before:
            assert r < MODEL.scale_out[level - 1].ratio  # it only scales out below a step
        if level < before:
            assert r >= MODEL.scale_out[level].ratio + MODEL.reentry_band


def test_bad_models_are_refused_in_the_fields_words() -> None:
    with pytest.raises(ValueError, match="`scale_out` ratios must fall"):
        CampaignModelConfig(scale_out=[ScaleOutStep(ratio=0.5, fraction=D("0.5"))], exit_ratio=0.6)
    with pytest.raises(ValueError, match="`scale_out` fractions"):
        CampaignModelConfig(
            scale_out=[
                ScaleOutStep(ratio=0.8, fraction=D("0.5")),
                ScaleOutStep(ratio=0.6, fraction=D("0.7")),
            ]
        )
    with pytest.raises(ValueError, match="`max_exposure` must be in"):
        CampaignModelConfig(max_exposure=D("1.5"))
    with pytest.raises(ValueError, match="`lot` must be > 0"):
        CampaignModelConfig(lot=D(0))
    with pytest.raises(ValueError, match="`vol_lam`"):
        CampaignModelConfig(vol_lam=1.0)


# -- sizing and orders ------------------------------------------------------------------------


def test_size_targets_risk_per_sigma_and_is_capped_by_exposure() -> None:
    # 0.004 / (0.001 * sqrt(60)) = 0.5164 of equity, under the 0.95 cap.
    qty = campaign_size(D(100_000), D(50_000), 0.001, MODEL)
    assert qty == D("1.03279")
    assert qty == floor_to(
        D(100_000) * D(repr(0.004 / (0.001 * math.sqrt(60)))) / 50_000, MODEL.lot
    )
    # A calm market would ask for more than the cap: 0.95 of equity.
    assert campaign_size(D(100_000), D(50_000), 0.0001, MODEL) == D("1.90000")
    # A drawdown tier halves it.
    assert campaign_size(D(100_000), D(50_000), 0.0001, MODEL, multiplier=D("0.5")) == D("0.95")
    assert campaign_size(D(0), D(50_000), 0.001, MODEL) == 0
    assert campaign_size(D(100_000), D(50_000), 0.0, MODEL) == 0


def test_limits_are_marketable_and_on_the_grid() -> None:
    assert limit_price("buy", D("100000.00"), MODEL) == D("100200.00")
    assert limit_price("sell", D("100000.00"), MODEL) == D("99800.00")
    assert limit_price("buy", D("123.45"), MODEL) == ceil_to(D("123.45") * D("1.002"), D("0.01"))
    assert limit_price("sell", D("123.45"), MODEL) == D("123.20")


prices = st.decimals(D("0.5"), D("200000"), places=2)
amounts = st.decimals(D(0), D("1000000"), places=8)
qtys = st.decimals(D(0), D(50), places=5)
mults = st.sampled_from([D(1), D("0.5"), D("0.25")])


@settings(max_examples=300)
@given(
    target=qtys,
    position=qtys,
    cash=amounts,
    close=prices,
    cap=st.none() | st.decimals(D(10), D(500_000), places=2),
    mult=mults,
    final=st.booleans(),
)
def test_orders_never_exceed_cash_caps_or_position(
    target: Decimal,
    position: Decimal,
    cash: Decimal,
    close: Decimal,
    cap: Decimal | None,
    mult: Decimal,
    final: bool,
) -> None:
    model = CampaignModelConfig(max_order_notional=cap)
    order = order_for(target, position, cash, close, model, multiplier=mult, final=final)
    if order is None:
        return
    side, qty, price = order
    assert qty > 0 and qty % model.lot == 0 and price % model.tick == 0
    if cap is not None:
        assert qty * price <= cap * mult
    if side == "buy":
        assert target > position
        assert position + qty <= target
        # No leverage: the gate's reservation (price x (1 + 50 bps)) fits the cash.
        assert qty * price * (1 + model.fee_reserve_bps / 10_000) <= cash
        assert price >= close
        assert qty * price >= model.min_notional
    else:
        assert target < position
        assert position - qty >= 0  # never short
        assert position - qty >= max(target, D(0)) - model.lot
        assert price <= close


@given(
    equity=amounts,
    close=prices,
    sigma=st.floats(1e-6, 0.2),
    mult=mults,
    max_qty=st.none() | qtys,
)
def test_campaign_size_never_exceeds_exposure_or_max_qty(
    equity: Decimal, close: Decimal, sigma: float, mult: Decimal, max_qty: Decimal | None
) -> None:
    model = CampaignModelConfig(max_qty=max_qty if max_qty else None)
    qty = campaign_size(equity, close, sigma, model, multiplier=mult)
    assert qty >= 0 and qty % model.lot == 0
    assert qty * close <= equity * model.max_exposure * mult
    if max_qty:
        assert qty <= max_qty
