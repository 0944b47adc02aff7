"""Drawdown tiers fire on real data, and HALTED stops new exposure.

A small deterministic finder picks the sharpest fall of each file in `../shared/data` (the
largest peak-to-trough drop of the close within 6 hours); the market maker and the campaign
strategy then run over that fall, from 12 hours before the peak to 24 hours after the trough,
through the risk gate's **default** drawdown profile (-3% halves order size, -5% REDUCING, -8%
HALTED), untightened. The journal (level `full`) is the evidence: the tier and state messages in
order, the verdicts around them.

The account holds the base asset besides its cash (a core position, as a market maker's
inventory or a fund's holdings would be): drawdown is measured from the equity peak including
open positions, and neither strategy alone loses 8% in six hours (the market maker stays near
flat; the campaign is long only and flat in a falling market), so without holdings no tier would
ever move. The campaign runs with `obey_trading_state = false` so that it keeps asking and the
gate has to refuse; a second campaign run, obeying, sends nothing once HALTED.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.feeds.files import CandleFormat, read_candles
from agents.data.messages import Bar
from agents.execution.messages import OrderFilled
from agents.ml.campaign_book import CampaignReport
from agents.risk.messages import (
    CancelOpenOrders,
    DrawdownTierChanged,
    OrderApproved,
    OrderDenied,
    OrderIntent,
    RiskReport,
)
from runtime import CODEC, Envelope, TradingStateChanged
from runtime._app import ListSink, build_sim
from runtime.config import load_config
from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

HOUR_NS = 3_600 * 10**9
FALL_HOURS = 6
MM_SIZE = Decimal("0.01")


@dataclass(frozen=True)
class Drop:
    """The largest fall of the close within a window: from `peak` to `trough`."""

    peak_ns: int
    peak: float
    trough_ns: int
    trough: float

    @property
    def pct(self) -> float:
        return (1.0 - self.trough / self.peak) * 100.0


def sharpest_drop(closes: list[tuple[int, float]], window_bars: int, /) -> Drop:
    """Return the largest peak-to-trough fall with the trough at most `window_bars` after the
    peak; O(n) with a monotonic deque of the window's maxima; ties keep the earliest."""
    best: tuple[float, int, int] = (0.0, 0, 0)
    maxima: collections.deque[int] = collections.deque()
    for i, (_, c) in enumerate(closes):
        while maxima and maxima[0] < i - window_bars:
            maxima.popleft()
        while maxima and closes[maxima[-1]][1] <= c:
            maxima.pop()
        maxima.append(i)
        top = maxima[0]
        fall = 1.0 - c / closes[top][1]
        if fall > best[0]:
            best = (fall, top, i)
    _, p, t = best
    return Drop(closes[p][0], closes[p][1], closes[t][0], closes[t][1])


@dataclass(frozen=True)
class Market:
    file: str
    format: CandleFormat
    instrument: str
    timeframe_secs: int
    tick: str
    base_held: str
    cash: str
    momentum_bars: int
    """The campaign's momentum window: 60 minutes of 1m bars, 1 hour of 5m bars."""

    @property
    def base(self) -> str:
        return self.instrument.split("/")[0]

    @property
    def quote(self) -> str:
        return self.instrument.split("/")[1]


MARKETS = {
    # FTX BTC-PERP quoted in USD, traded here as spot: named BTC/USD so fees are in USD.
    "ftx_btc_1m": Market(
        file="ftx_btcperp_1m_20211231_20220201.csv.gz",
        format="ftx_csv",
        instrument="BTC/USD",
        timeframe_secs=60,
        tick="1",
        base_held="1",
        cash="5000",
        momentum_bars=60,
    ),
    "binance_btc_5m": Market(
        file="binance_btcusdt_5m_20240301_20250702.csv.gz",
        format="binance_csv",
        instrument="BTC/USDT",
        timeframe_secs=300,
        tick="0.01",
        base_held="1",
        cash="5000",
        momentum_bars=12,
    ),
    "binance_eth_1m": Market(
        file="binance_ethusdt_1m_20250520_20250818.csv.gz",
        format="binance_csv",
        instrument="ETH/USDT",
        timeframe_secs=60,
        tick="0.01",
        base_held="20",
        cash="5000",
        momentum_bars=60,
    ),
}

_DROPS: dict[str, Drop] = {}


def drop_of(m: Market) -> Drop:
    if m.file not in _DROPS:
        path = shared_data(m.file)
        closes = [
            (bar.end_ns, float(bar.close))
            for _, bar in read_candles(
                path, format=m.format, instrument=m.instrument, timeframe_secs=m.timeframe_secs
            )
        ]
        _DROPS[m.file] = sharpest_drop(closes, FALL_HOURS * 3_600 // m.timeframe_secs)
    return _DROPS[m.file]


COMMON = """
mode = "backtest"
seed = 0
[journal]
level = "full"
[backtest]
start_ns = {start_ns}
duration_secs = {secs}
[[adapters]]
name = "candles"
kind = "candles_file"
[adapters.params]
path = "{path}"
format = "{format}"
instrument = "{instrument}"
timeframe_secs = {tf}
start = "{start}"
end = "{end}"
to = "sim"
[[agents]]
name = "sim"
kind = "simulated_venue"
role = "execution"
params = {{ relay = true }}
[[agents]]
name = "execution"
kind = "execution"
role = "execution"
[[agents]]
name = "risk"
kind = "risk_gate"
role = "risk"
[agents.params]
balances = {{ sim = {{ {quote} = "{cash}", {base} = "{base_held}" }} }}
equity_asset = "{quote}"
drawdown = "default"
{limit}
[agents.params.instruments."{instrument}"]
tick = "{tick}"
lot = "0.00001"
{qty_limit}
"""

MM = """
[[agents]]
name = "mm"
kind = "bar_market_maker"
role = "ml"
[agents.params]
instrument = "{instrument}"
venue = "sim"
model = {{ tick = "{tick}", size = "{size}", qmax = "1" }}
"""

CAMPAIGN = """
[[agents]]
name = "campaign"
kind = "campaign"
role = "ml"
[agents.params]
instrument = "{instrument}"
venue = "sim"
cash = "{cash}"
obey_trading_state = {obey}
[agents.params.model]
momentum_bars = {momentum_bars}
efficiency_bars = {momentum_bars}
entry_strength = 0.5
max_order_notional = "{cash}"
tick = "{tick}"
"""


def _iso(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns // 10**9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Run:
    envs: list[Envelope]
    strategy: str
    drop: Drop
    cash: Decimal

    def of(self, t: type[Any]) -> list[Any]:
        """Return the envelopes carrying a `t` (typed loosely: their `msg` is a `t`)."""
        return [e for e in self.envs if isinstance(e.msg, t)]


def run(tmp: Path, key: str, strategy: str, *, obey: bool = False) -> Run:
    m = MARKETS[key]
    d = drop_of(m)
    start = (d.peak_ns - 12 * HOUR_NS) // HOUR_NS * HOUR_NS
    end = d.trough_ns + 24 * HOUR_NS
    fields = {
        "start_ns": start,
        "secs": (end - start) / 1e9,
        "path": shared_data(m.file),
        "format": m.format,
        "instrument": m.instrument,
        "tf": m.timeframe_secs,
        "start": _iso(start),
        "end": _iso(end),
        "quote": m.quote,
        "base": m.base,
        "cash": m.cash,
        "base_held": m.base_held,
        "tick": m.tick,
        "size": MM_SIZE,
        "momentum_bars": m.momentum_bars,
        "obey": "true" if obey else "false",
        # A size-cutting tier needs an order limit to cut: the market maker's order size, the
        # campaign's whole cash.
        "limit": "" if strategy == "mm" else f'max_order_notional = "{m.cash}"',
        "qty_limit": f'max_order_qty = "{MM_SIZE}"' if strategy == "mm" else "",
    }
    text = COMMON.format(**fields) + (MM if strategy == "mm" else CAMPAIGN).format(**fields)
    path = tmp / f"{key}_{strategy}_{obey}.toml"
    path.write_text(text)
    cfg = load_config(path, env={})
    sink = ListSink()
    kernel = build_sim(cfg, source=str(path), run_id="dd", sink=sink)
    kernel.run_to_end()
    return Run([CODEC.decode(r.data) for r in sink.rows], strategy, d, Decimal(m.cash))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    """Run each (market, strategy, obey) once per module."""
    tmp = tmp_path_factory.mktemp("drawdown")
    done: dict[tuple[str, str, bool], Run] = {}

    def get(key: str, strategy: str, *, obey: bool = False) -> Run:
        if (key, strategy, obey) not in done:
            done[key, strategy, obey] = run(tmp, key, strategy, obey=obey)
        return done[key, strategy, obey]

    return get


EXPECTED_FALL_PCT = {"ftx_btc_1m": 9.43, "binance_btc_5m": 14.06, "binance_eth_1m": 9.89}


def test_the_finder_agrees_with_brute_force_and_finds_the_known_crashes() -> None:
    m = MARKETS["ftx_btc_1m"]
    path = shared_data(m.file)
    closes = [
        (b.end_ns, float(b.close))
        for _, b in read_candles(path, format=m.format, instrument=m.instrument, timeframe_secs=60)
    ][:3_000]
    w = 90
    brute = max(
        (1.0 - closes[j][1] / closes[i][1], -i, -j)
        for j in range(len(closes))
        for i in range(max(0, j - w), j + 1)
    )
    got = sharpest_drop(closes, w)
    assert got.pct == pytest.approx(brute[0] * 100.0)
    assert (got.peak_ns, got.trough_ns) == (closes[-brute[1]][0], closes[-brute[2]][0])
    for key, pct in EXPECTED_FALL_PCT.items():
        d = drop_of(MARKETS[key])
        assert d.pct == pytest.approx(pct, abs=0.005)
        assert 0 < d.trough_ns - d.peak_ns <= FALL_HOURS * HOUR_NS


def _close_at(r: Run, env: Envelope) -> Decimal:
    bars = {e.seq: e.msg for e in r.envs if isinstance(e.msg, Bar)}
    seq = env.cause
    while seq not in bars:  # the bar whose mark moved the tier caused it
        seq = next(e.cause for e in r.envs if e.seq == seq)
    return bars[seq].close


def assert_tiers_then_halt_stops_exposure(r: Run) -> Envelope:
    """Assert ACTIVE -> size cut -> REDUCING -> HALTED in order; return the HALTED envelope."""
    tiers = r.of(DrawdownTierChanged)
    assert [(e.msg.tier, e.msg.state) for e in tiers] == [
        (1, "ACTIVE"),
        (2, "REDUCING"),
        (3, "HALTED"),
    ]
    assert [e.msg.size_multiplier for e in tiers] == [Decimal("0.5")] * 3
    for e, floor in zip(tiers, (3, 5, 8), strict=True):
        assert floor <= e.msg.drawdown_pct < floor + 3
        assert e.msg.peak == tiers[0].msg.peak  # one peak: no new high during the fall
    states = [e for e in r.of(TradingStateChanged) if e.msg.by == "risk:drawdown"]
    assert [e.msg.state for e in states] == ["REDUCING", "HALTED"]
    assert [e.cause for e in states] == [tiers[1].cause, tiers[2].cause]  # on the same mark
    report = r.of(RiskReport)[-1].msg
    assert [(t.to_tier, t.ts, t.equity) for t in report.transitions] == [
        (e.msg.tier, e.ts, e.msg.equity) for e in tiers
    ]
    assert report.tier == 3
    halted = states[1]
    reducing = states[0]
    cancel = r.of(CancelOpenOrders)
    assert cancel and cancel[0].cause == halted.cause  # HALTED cancels what rests

    cut = tiers[0].seq
    for e in r.of(OrderApproved):
        i = e.msg.intent
        if e.seq > cut:  # the size cut holds
            if r.strategy == "mm":
                assert i.qty <= MM_SIZE / 2  # (none pass at all: its orders are all 0.01)
            else:
                assert i.price is not None and i.qty * i.price <= r.cash / 2
        if e.seq > reducing.seq:
            assert i.side == "sell" and i.reduce_only  # REDUCING: only reducing orders pass
        assert e.seq < halted.seq, f"an order was approved after HALTED: {i}"
    assert not [e for e in r.of(OrderFilled) if e.seq > halted.seq and e.msg.side == "buy"]
    after = [e.msg for e in r.of(OrderDenied) if e.seq > halted.seq]
    assert {d.code for d in after} <= {"HALTED"}
    env: Envelope = halted
    return env


@pytest.mark.parametrize("key", sorted(MARKETS))
def test_the_market_maker_is_cut_then_reduced_then_halted(
    runs: Callable[..., Run], key: str
) -> None:
    r = runs(key, "mm")
    halted = assert_tiers_then_halt_stops_exposure(r)
    tiers = r.of(DrawdownTierChanged)
    reducing = next(e for e in r.of(TradingStateChanged) if e.msg.state == "REDUCING")
    denied = [(e.seq, e.msg.code) for e in r.of(OrderDenied)]
    # Each tier shows in the verdicts: the cut, then REDUCING, then HALTED refusals.
    assert any(c == "DRAWDOWN_SIZE" and tiers[0].seq < s < reducing.seq for s, c in denied)
    assert any(c == "REDUCING_ONLY" and reducing.seq < s < halted.seq for s, c in denied)
    assert sum(c == "HALTED" and s > halted.seq for s, c in denied) > 100  # it kept quoting
    assert _close_at(r, tiers[-1]) < Decimal(str(r.drop.peak))


@pytest.mark.parametrize("key", sorted(MARKETS))
def test_the_campaign_is_refused_once_halted(runs: Callable[..., Run], key: str) -> None:
    r = runs(key, "campaign")
    halted = assert_tiers_then_halt_stops_exposure(r)
    asked = [e for e in r.of(OrderIntent) if e.seq > halted.seq]
    denied = [e.msg for e in r.of(OrderDenied) if e.seq > halted.seq]
    assert len(denied) == len(asked)  # every intent after HALTED was refused, as HALTED
    report = r.of(CampaignReport)[-1].msg
    assert report.position >= 0 and report.cash >= 0


def test_the_campaign_wanted_back_in_after_the_crash_and_was_refused(
    runs: Callable[..., Run],
) -> None:
    # The rebounds after the BTC crashes re-strengthen its signal: it asks to buy, and the gate
    # refuses (ETH's rebound in the window is too weak to ask).
    for key in ("binance_btc_5m", "ftx_btc_1m"):
        r = runs(key, "campaign")
        halted = next(e for e in r.of(TradingStateChanged) if e.msg.state == "HALTED")
        buys = [e for e in r.of(OrderIntent) if e.seq > halted.seq and e.msg.side == "buy"]
        assert buys, key
        refused = {e.msg.client_id: e.msg.code for e in r.of(OrderDenied)}
        assert {refused[e.msg.client_id] for e in buys} == {"HALTED"}


def test_an_obeying_campaign_sends_nothing_once_halted(runs: Callable[..., Run]) -> None:
    r = runs("binance_btc_5m", "campaign", obey=True)
    halted = assert_tiers_then_halt_stops_exposure(r)
    assert not [e for e in r.of(OrderIntent) if e.seq > halted.seq]
    assert not [e for e in r.of(OrderDenied) if e.seq > halted.seq]
