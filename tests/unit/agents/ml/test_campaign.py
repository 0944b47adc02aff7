"""The campaign strategy in the sim kernel, through the real risk gate, execution and venue.

Synthetic bars (a trend, a pause, a second leg, a fall) drive one campaign through every kind of
decision; random walks check the invariants a user relies on: never short, never more cash spent
than held, exact PnL per campaign.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.venues.simulated import SimulatedVenue, SimulatedVenueConfig
from agents.data.messages import Bar
from agents.execution.actor import Execution
from agents.execution.messages import OrderFilled, VenueEvent
from agents.ml.campaign import Campaign, CampaignConfig
from agents.ml.campaign_book import CampaignEnded, CampaignReport
from agents.ml.campaign_logic import CampaignModelConfig
from agents.risk.actor import RiskGate
from agents.risk.config import InstrumentRiskConfig, RiskGateConfig
from agents.risk.messages import OrderApproved, OrderDenied, SetTradingState
from runtime import Actor, ActorSpec, Journal, Message, SimKernel
from runtime._app import ListSink

D = Decimal
MIN = 60 * 10**9
CASH = D(100_000)
MODEL = CampaignModelConfig(
    momentum_bars=20,
    efficiency_bars=20,
    vol_min_periods=20,
    smooth_bars=3,
    risk_horizon_bars=20,
    max_order_notional=D(60_000),
)


class Tape(Actor):
    """Keep what the strategy's orders met: intents, verdicts, fills, campaign events."""

    def __init__(self) -> None:
        self.got: list[tuple[int, Message]] = []

    def on_start(self) -> None:
        for t in (OrderApproved, OrderDenied, VenueEvent, CampaignEnded):
            self.ctx.subscribe(t)
        self.ctx.subscribe(CampaignReport)

    def on_any(self, msg: Message) -> None:
        env = self.ctx.current
        assert env is not None
        self.got.append((env.seq, msg))

    def of(self, t: type[Message]) -> list[Message]:
        return [m for _, m in self.got if isinstance(m, t)]


def bars_from(closes: list[float]) -> list[tuple[int, Bar]]:
    out, prev = [], D(str(round(closes[0], 2)))
    for i, c in enumerate(closes):
        close = D(str(round(c, 2)))
        hi, lo = max(prev, close) + D("0.05"), min(prev, close) - D("0.05")
        bar = Bar(instrument="BTC/USDT", start_ns=i * MIN, end_ns=(i + 1) * MIN, open=prev,
                  high=hi, low=lo, close=close, volume=D(100), trades=10)  # fmt: skip
        out.append(((i + 1) * MIN, bar))
        prev = close
    return out


def legs(seed: int, *parts: tuple[int, float]) -> list[float]:
    """A noisy path: (bars, drift per bar) legs, 0.1% noise per bar."""
    rng = random.Random(seed)
    p, out = 1000.0, []
    for n, drift in parts:
        for _ in range(n):
            p *= math.exp(drift + rng.gauss(0.0, 0.001))
            out.append(p)
    return out


def desk(
    closes: list[float], *, campaign: CampaignConfig | None = None, journal: Journal | None = None
) -> tuple[SimKernel, Campaign, Tape]:
    k = SimKernel(start_ns=0, journal=journal, sink=ListSink() if journal else None)
    gate = RiskGateConfig(
        balances={"sim": {"USDT": CASH}},
        max_order_notional=D(60_000),
        instruments={"BTC/USDT": InstrumentRiskConfig(tick=D("0.01"), lot=D("0.00001"))},
    )
    k.add_actor(ActorSpec("sim", lambda: SimulatedVenue(SimulatedVenueConfig(relay=True))))
    k.add_actor(ActorSpec("risk", lambda: RiskGate(gate), role="risk"))
    k.add_actor(ActorSpec("execution", Execution, role="execution"))
    strat = Campaign(campaign or CampaignConfig(cash=CASH, model=MODEL))
    k.add_actor(ActorSpec("campaign", lambda: strat, role="ml"))
    tape = Tape()
    k.add_actor(ActorSpec("tape", lambda: tape))
    k.add_source("feed", bars_from(closes), dst="sim")
    return k, strat, tape


def run(closes: list[float], **kw: object) -> tuple[Campaign, Tape, SimKernel]:
    k, strat, tape = desk(closes, **kw)  # type: ignore[arg-type]
    k.run()
    k.stop()
    return strat, tape, k


# trend, pause (the signal decays: scale out), second leg (re-entry), fall (final exit)
SHAPE = ((60, 0.0), (40, 0.0006), (12, 0.0), (40, 0.001), (60, -0.002))
SEED = 2


def test_one_campaign_enters_scales_out_re_enters_and_exits_with_exact_pnl() -> None:
    _, tape, _ = run(legs(SEED, *SHAPE))
    ended = [m for m in tape.of(CampaignEnded) if isinstance(m, CampaignEnded)]
    assert ended, "no campaign closed"
    first = ended[0].campaign
    actions = [s.action for s in first.steps]
    assert actions[0] == "entry" and actions[-1] == "exit"
    assert "scale_out" in actions and "scale_in" in actions
    assert first.partial_exits == actions.count("scale_out")
    assert first.re_entries == actions.count("scale_in")
    assert first.sells >= 2 and first.buys >= 2  # partial exits and re-entries traded
    assert first.bought == first.sold and first.end_ns > first.start_ns
    # Exact PnL: the campaign's own fills, to the last digit.
    fills = [m for m in tape.of(OrderFilled) if isinstance(m, OrderFilled)]
    mine = fills[: first.buys + first.sells]
    pnl = sum((f.qty * f.price * (1 if f.side == "sell" else -1) - f.fee for f in mine), D(0))
    assert pnl == first.pnl
    # The targets follow the fractions of the entry size, in whole lots.
    for step in first.steps:
        assert step.target % MODEL.lot == 0
        assert step.target <= first.size
    report = tape.of(CampaignReport)[-1]
    assert isinstance(report, CampaignReport)
    assert report.realized_pnl == sum((e.campaign.pnl for e in ended), D(0))
    assert report.cash == CASH + report.realized_pnl  # flat at the end: all PnL is cash
    assert report.position == 0 and report.denied == 0


def test_sells_are_reduce_only_and_orders_are_exact_on_the_grid() -> None:
    _, tape, _ = run(legs(SEED, *SHAPE))
    intents = [m.intent for m in tape.of(OrderApproved) if isinstance(m, OrderApproved)]
    assert len(intents) >= 4 and not tape.of(OrderDenied)
    for i in intents:
        assert i.price is not None and i.price % D("0.01") == 0 and i.qty % D("0.00001") == 0
        assert i.reduce_only == (i.side == "sell")
        assert i.qty * i.price <= D(60_000)  # the per-order cap


def test_a_halt_stops_new_orders_and_the_gate_refuses_a_strategy_that_ignores_it() -> None:
    closes = legs(SEED, *SHAPE)
    for obey in (True, False):
        k, strat, tape = desk(
            closes, campaign=CampaignConfig(cash=CASH, model=MODEL, obey_trading_state=obey)
        )
        k.emit_input(
            "operator:test",
            SetTradingState(scope="global", state="HALTED", reason="test", by="test"),
            dst="risk",
        )
        k.run()
        k.stop()
        assert not tape.of(OrderApproved)
        assert not tape.of(OrderFilled)
        denied = [m for m in tape.of(OrderDenied) if isinstance(m, OrderDenied)]
        if obey:
            assert strat.state.orders == 0 and not denied  # it never asked
        else:
            assert denied and {d.code for d in denied} == {"HALTED"}
            # A refusal backs off `retry_bars`: no refusal every bar.
            assert len(denied) <= len(closes) // strat.params.retry_bars + 1


def test_the_same_bars_give_the_same_journal_and_a_snapshot_restores_the_state() -> None:
    closes = legs(SEED, *SHAPE)
    heads = []
    for _ in range(2):
        j = Journal(level="full")
        k, _, _ = desk(closes, journal=j)
        k.run()
        k.stop()
        heads.append(j.head)
    assert heads[0] == heads[1]
    # Snapshot halfway, restore into a fresh actor: the same decisions follow.
    k, strat, _ = desk(closes)
    k.run(until_ns=180 * MIN)
    data = strat.snapshot()
    assert data is not None
    twin = Campaign(strat.params)
    twin.restore(data)
    assert msgspec.msgpack.encode(twin.state) == msgspec.msgpack.encode(strat.state)
    assert twin._signal.snapshot() == strat._signal.snapshot()


drifts = st.lists(
    st.tuples(st.integers(10, 60), st.sampled_from([-0.004, -0.001, 0.0, 0.002, 0.005])),
    min_size=2,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), parts=drifts)
def test_never_short_never_leveraged_and_campaigns_add_up(
    seed: int, parts: list[tuple[int, float]]
) -> None:
    closes = legs(seed, (40, 0.0), *parts)
    strat, tape, _ = run(closes)
    cash, position = CASH, D(0)
    for _, m in tape.got:
        if isinstance(m, OrderFilled):
            value = m.qty * m.price
            cash += -value - m.fee if m.side == "buy" else value - m.fee
            position += m.qty if m.side == "buy" else -m.qty
            assert cash >= 0 and position >= 0
    assert (cash, position) == (strat.state.cash, strat.state.position)
    report = tape.of(CampaignReport)[-1]
    assert isinstance(report, CampaignReport)
    last = D(str(round(closes[-1], 2)))
    # Every unit of PnL belongs to a campaign: closed ones exactly, the open one at the mark.
    assert report.realized_pnl + report.open_pnl == cash + position * last - CASH
    assert not tape.of(OrderDenied)  # it never asks the gate for what it lacks
