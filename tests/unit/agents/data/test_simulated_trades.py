"""The paper profile's simulated market: its order flow has the intensity it claims, and the
quoter's online estimators, fed by it in the sim kernel, recover `A`, `k` and `sigma`."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from agents.data.messages import Quote, Trade
from agents.data.simulated_trades import SimulatedTrades, SimulatedTradesConfig
from agents.ml.as_quoter import AsQuoter, AsQuoterConfig
from agents.ml.estimators import fit_intensity
from runtime import ActorSpec, Journal, SimKernel
from runtime._app import ListSink
from runtime.testing import Recorder, RecorderConfig

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC
MARKET = SimulatedTradesConfig(A=50.0, k=0.5, sigma=0.6, s0=50_000.0)
SECONDS = 200
SIGMA_ABS = 0.6 / math.sqrt(365 * 24 * 3600) * 50_000.0  # per sqrt(second), at s0
SIGMA_LOG = SIGMA_ABS / 50_000.0  # what SigmaEstimator measures (log returns)


def market(seed: int = 0, *, quoter: bool = False) -> tuple[SimKernel, Recorder, AsQuoter | None]:
    k = SimKernel(start_ns=T0, seed=seed, journal=Journal(level="full"), sink=ListSink())
    k.add_actor(ActorSpec("market", lambda: SimulatedTrades(MARKET)))
    q = None
    if quoter:
        # Orders go to a venue that is not there: this is about the estimators only.
        q = AsQuoter(AsQuoterConfig(sigma_interval_ms=1000, sigma_window=150, bucket=0.5,
                                    min_trades=500, max_trades=5000))  # fmt: skip
        k.add_actor(ActorSpec("quoter", lambda: q))
    rec = Recorder(RecorderConfig(tags=["data.Trade", "data.Quote"]))
    k.add_actor(ActorSpec("rec", lambda: rec))
    k.run(until_ns=T0 + SECONDS * SEC)
    k.stop()
    return k, rec, q


def test_trades_arrive_at_rate_a_at_exponential_distances_from_the_mid() -> None:
    _, rec, _ = market()
    mid = None
    dist, buys, sells = [], 0, 0
    for msg in rec.messages:
        if isinstance(msg, Quote):
            mid = (msg.bid + msg.ask) / 2
            assert msg.ask - msg.bid == Decimal("0.01")
        elif isinstance(msg, Trade):
            assert mid is not None and msg.price % Decimal("0.01") == 0
            d = float(msg.price - mid)
            assert (d >= -0.01) if msg.side == "buy" else (d <= 0.01)  # buys above, sells below
            buys += msg.side == "buy"
            sells += msg.side == "sell"
            dist.append(abs(d))
    n = len(dist)
    expected = MARKET.A * SECONDS
    assert abs(n - expected) < 4 * math.sqrt(expected)  # Poisson count
    assert abs(buys - n / 2) < 4 * math.sqrt(n / 4)
    # Exp(k): mean 1/k (the grid and the half-tick book move it by < 0.01).
    assert np.mean(dist) == pytest.approx(1 / MARKET.k, rel=0.05)
    a, k = fit_intensity(np.array(dist), SECONDS, bucket=0.5, buckets=20)
    assert a == pytest.approx(MARKET.A, rel=0.05) and k == pytest.approx(MARKET.k, rel=0.05)
    assert {m.trade_id for m in rec.messages if isinstance(m, Trade)} == {
        f"market-{i}" for i in range(1, n + 1)
    }


def test_the_quoters_estimators_recover_a_k_and_sigma_from_the_stream() -> None:
    _, _, q = market(quoter=True)
    assert q is not None and q.state.ready and q.state.fit_failures == 0
    est = q.intensity.estimate
    assert est is not None
    a, k = est
    # 5000 trades (100 s of the stream) in the window: ~2% statistical error.
    assert a == pytest.approx(MARKET.A, rel=0.1)
    assert k == pytest.approx(MARKET.k, rel=0.1)
    sigma = q.sigma.value()
    assert sigma is not None
    assert sigma == pytest.approx(SIGMA_LOG, rel=0.15)  # 150 one-second returns: ~6% error


def test_a_seed_fixes_the_market_and_another_seed_changes_it() -> None:
    heads = []
    for seed in (1, 1, 2):
        k, _, _ = market(seed)
        assert k.journal is not None
        heads.append(k.journal.head)
    assert heads[0] == heads[1] != heads[2]


def test_bad_params_are_refused() -> None:
    with pytest.raises(ValueError, match="`size` must be > 0, got 0"):
        SimulatedTradesConfig(size=Decimal(0))
