"""The RL adjuster's pure parts: state features, the quoter's inputs, the artifact and its pin."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.ml.bar_quotes import BarQuoter, BarQuoterConfig
from agents.ml.rl import (
    ActionGrid,
    Adjuster,
    Policy,
    RegimeBins,
    RegimeState,
    RegimeTracker,
    TrainingInfo,
    decode_policy,
    encode_policy,
    load_policy,
    sha256_hex,
)
from agents.ml.rl_env import ewma_var, signed_efficiency

BINS = RegimeBins(
    vol_edges=(0.0004, 0.0008), trend_edges=(-0.3, 0.3), inventory_edges=(-0.5, 0.5), trend_bars=5
)
GRID = ActionGrid(spread_multipliers=(1.0, 2.0, 4.0), skews=(-0.5, 0.0, 0.5))
INFO = TrainingInfo(
    data_file="candles.csv.gz", data_sha256="ab" * 32, train_first="2025-05-20T00:01:00Z",
    train_last="2025-05-21T00:00:00Z", train_bars=1440, validation_first="2025-05-21T00:01:00Z",
    validation_last="2025-05-22T00:00:00Z", validation_bars=1440,
    model={"lam": 0.94}, venue={}, config={}, seed=3, episode=2,
)  # fmt: skip


def policy(greedy: tuple[int, ...] | None = None) -> Policy:
    n = BINS.states
    return Policy(
        name="t", version=1, bins=BINS, actions=GRID,
        greedy=greedy or tuple(i % GRID.size for i in range(n)),
        q=tuple(tuple(float(i + j) for j in range(GRID.size)) for i in range(n)),
        visits=tuple(range(n)), training=INFO, metrics={"validation": {"pnl": 1.5}},
    )  # fmt: skip


closes = st.lists(st.integers(9_990_000, 10_010_000), min_size=1, max_size=120)
"""Closes in ticks, with flat stretches likely (a flat window has trend 0)."""


@given(ticks=closes, n=st.integers(1, 12))
@settings(max_examples=150, deadline=None)
def test_the_streaming_trend_equals_the_training_arrays_exactly(ticks: list[int], n: int) -> None:
    tracker = RegimeTracker(n)
    streamed = [tracker.update(t) for t in ticks]
    arrays = signed_efficiency(np.array(ticks, dtype=np.float64), bars=n).tolist()
    assert streamed == arrays  # bitwise: both are one division of the same two integers
    assert all(-1.0 <= x <= 1.0 for x in streamed)


def test_the_trend_is_one_on_a_straight_rise_and_zero_on_chop() -> None:
    tracker = RegimeTracker(4)
    assert [tracker.update(t) for t in (10, 11, 12, 13, 14)][-1] == 1.0
    chop = RegimeTracker(4)
    assert [chop.update(t) for t in (10, 12, 10, 12, 10)][-1] == 0.0
    fall = RegimeTracker(2)
    assert [fall.update(t) for t in (10, 8, 7)][-1] == -1.0


@given(
    path=st.lists(st.integers(9_000_000, 11_000_000), min_size=2, max_size=60),
    q=st.sampled_from(["0", "0.01", "-0.5", "0.99", "1", "-1"]),
)
@settings(max_examples=100, deadline=None)
def test_observe_then_quote_with_defaults_is_update(path: list[int], q: str) -> None:
    cfg = BarQuoterConfig(warmup=1)
    plain, split = BarQuoter(cfg), BarQuoter(cfg)
    for ticks in path:
        close = Decimal(ticks) * cfg.tick
        want = plain.update(close, Decimal(q))
        split.observe(close)
        assert split.quote(close, Decimal(q)) == want
    assert split.state == plain.state
    var = ewma_var([float(Decimal(t) * cfg.tick) for t in path], lam=cfg.lam)
    assert var[-1] == plain.state.var


def test_the_multiplier_widens_and_the_skew_moves_the_quotes() -> None:
    cfg = BarQuoterConfig(warmup=1, gamma=0.0)
    quoter = BarQuoter(cfg)
    for c in ("100000.00", "100050.00", "99980.00", "100010.00"):
        quoter.observe(Decimal(c))
    close, q = Decimal("100010.00"), Decimal(0)
    sp = 100010.0 * math.sqrt(quoter.state.var)
    plain_bid, plain_ask = quoter.quote(close, q)
    wide_bid, wide_ask = quoter.quote(close, q, spread_mult=3.0)
    up_bid, up_ask = quoter.quote(close, q, skew=0.5)
    assert plain_bid is not None and plain_ask is not None
    assert wide_bid is not None and wide_ask is not None
    assert up_bid is not None and up_ask is not None
    assert wide_bid < plain_bid and wide_ask > plain_ask
    assert wide_ask - wide_bid == pytest.approx(3 * (plain_ask - plain_bid), abs=Decimal("0.03"))
    assert up_bid > plain_bid and up_ask > plain_ask  # a positive skew leans to buying
    assert float(up_ask - plain_ask) == pytest.approx(0.5 * sp, abs=0.011)
    # The exact ticks: floor/ceil of (res -/+ half) / tick, as the module docstring says.
    assert wide_bid == Decimal(math.floor((100010.0 - 3 * sp) / 0.01)) * Decimal("0.01")


def test_the_state_index_bins_each_feature() -> None:
    assert BINS.shape == (3, 3, 3) and BINS.states == 27
    assert BINS.state(0.0001, 0.0, 0.0) == (0 * 3 + 1) * 3 + 1
    assert BINS.state(0.0004, 0.3, 0.5) == (1 * 3 + 2) * 3 + 2  # an edge falls in the bin above
    assert BINS.state(0.01, -0.9, -1.0) == (2 * 3 + 0) * 3 + 0
    assert GRID.action(GRID.index(4.0, -0.5)) == (4.0, -0.5)
    with pytest.raises(ValueError, match="strictly ascending"):
        RegimeBins(vol_edges=(2.0, 1.0), trend_edges=(), inventory_edges=(), trend_bars=3)
    with pytest.raises(ValueError, match="must be > 0"):
        ActionGrid(spread_multipliers=(0.0,), skews=(0.0,))


def test_the_adjuster_feeds_the_policy_the_actors_features() -> None:
    p = policy()
    state = RegimeState()
    adj = Adjuster(p, qmax=Decimal(1), tick=Decimal("0.01"), state=state)
    var = 0.0005**2
    out = [adj.step(Decimal(c), var, Decimal("0.6")) for c in ("100.00", "100.01", "100.02")]
    trend = RegimeTracker(5)
    for c in (10000, 10001):
        trend.update(c)
    assert out[-1] == p.act(0.0005, trend.update(10002), 0.6)
    assert state.ticks == [10000, 10001, 10002]  # the window lives in the actor's state


def test_an_artifact_round_trips_byte_for_byte(tmp_path: Path) -> None:
    p = policy()
    data = encode_policy(p)
    assert decode_policy(data) == p
    assert encode_policy(decode_policy(data)) == data
    path = tmp_path / "policy.json"
    path.write_bytes(data)
    assert load_policy(path, sha256=sha256_hex(data)) == p
    assert load_policy(path, sha256=sha256_hex(data).upper()) == p


def test_a_tampered_artifact_or_a_wrong_pin_is_refused_naming_the_hash(tmp_path: Path) -> None:
    data = encode_policy(policy())
    pin = sha256_hex(data)
    path = tmp_path / "policy.json"
    path.write_bytes(data.replace(b'"pnl": 1.5', b'"pnl": 9.5'))
    got = sha256_hex(path.read_bytes())
    with pytest.raises(ValueError, match=f"has sha256 {got}, not the pinned `policy_sha256` {pin}"):
        load_policy(path, sha256=pin)
    with pytest.raises(ValueError, match=f"`policy_sha256` is required .* sha256 {got}"):
        load_policy(path, sha256=None)
    with pytest.raises(ValueError, match="cannot read the policy"):
        load_policy(tmp_path / "missing.json", sha256=pin)
    bad = tmp_path / "bad.json"
    bad.write_bytes(data.replace(b'"greedy": [\n    0,', b'"greedy": [\n    99,'))
    with pytest.raises(ValueError, match=r"not a valid policy artifact: `greedy` actions"):
        load_policy(bad, sha256=sha256_hex(bad.read_bytes()))
    other = tmp_path / "other.json"
    other.write_bytes(data.replace(b"kinetic.rl_policy.v1", b"kinetic.rl_policy.v0"))
    with pytest.raises(ValueError, match="`format` must be"):
        load_policy(other, sha256=sha256_hex(other.read_bytes()))
