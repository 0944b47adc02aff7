"""The AS quoter in the sim kernel: the readiness gate, fit failures, skew, snapshot and restore.

The market is the paper profile's (`simulated_trades`), or a scripted one where a test needs the
trades to do something particular; orders go through the real risk gate, execution and venue.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

import msgspec
import pytest
import structlog
from structlog.testing import capture_logs

from adapters.venues.simulated import SimulatedVenue, SimulatedVenueConfig
from adapters.venues.simulated.matching import Matcher
from agents.data.messages import Quote, Trade
from agents.data.simulated_trades import SimulatedTrades, SimulatedTradesConfig
from agents.execution.actor import Execution
from agents.execution.messages import OrderFilled
from agents.ml.as_quoter import AsQuoter, AsQuoterConfig
from agents.ml.messages import IntensityFitFailed, QuoterReady, QuoteUpdate
from agents.risk.actor import RiskGate
from agents.risk.config import RiskGateConfig
from agents.risk.messages import OrderApproved, OrderDenied
from runtime import Actor, ActorSpec, ConfigError, Journal, Message, SimKernel
from runtime._app import ListSink, actor_specs
from runtime.config import AgentConfig, KineticConfig

D = Decimal
SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC
PARAMS = AsQuoterConfig(
    instrument="BTC/USDT",
    venue="sim",
    sigma_interval_ms=200,
    sigma_window=20,
    bucket=0.5,
    min_trades=150,
    max_trades=2000,
)


class Tape(Actor):
    """Keep what the quoter published and what its orders met."""

    def __init__(self) -> None:
        self.got: list[tuple[int, Message]] = []

    def on_start(self) -> None:
        for t in (QuoteUpdate, QuoterReady, IntensityFitFailed, OrderApproved, OrderDenied,
                  OrderFilled):  # fmt: skip
            self.ctx.subscribe(t)

    def on_any(self, msg: Message) -> None:
        env = self.ctx.current
        assert env is not None
        self.got.append((env.seq, msg))

    def of(self, t: type[Message]) -> list[tuple[int, Message]]:
        return [(s, m) for s, m in self.got if isinstance(m, t)]


class RestorableVenue(SimulatedVenue):
    """The simulated venue, with its matcher rebuilt on restore (it is built in `on_start`
    only, so a venue restored from a snapshot has none: reported, not ours to fix)."""

    def restore(self, data: bytes, /) -> None:
        super().restore(data)
        self._matcher = Matcher(self.params, self.ctx.rng)


def desk(
    params: AsQuoterConfig = PARAMS,
    *,
    market: bool = True,
    source: list[tuple[int, Message]] | None = None,
    journal: Journal | None = None,
    sink: ListSink | None = None,
    logger: object = None,
    start_ns: int = T0,
) -> tuple[SimKernel, Tape]:
    k = SimKernel(start_ns=start_ns, journal=journal, sink=sink, logger=logger)
    if market:
        k.add_actor(ActorSpec("market", lambda: SimulatedTrades(SimulatedTradesConfig())))
    k.add_actor(ActorSpec("sim", lambda: RestorableVenue(SimulatedVenueConfig())))
    gate = RiskGateConfig(price_band_bps=D(50))
    k.add_actor(ActorSpec("risk", lambda: RiskGate(gate), role="risk"))
    k.add_actor(ActorSpec("execution", Execution, role="execution"))
    k.add_actor(ActorSpec("quoter", lambda: AsQuoter(params), role="ml"))
    tape = Tape()
    k.add_actor(ActorSpec("tape", lambda: tape))
    if source is not None:
        k.add_source("feed", source)
    return k, tape


def quoter(k: SimKernel) -> AsQuoter:
    q = k.actor("quoter")
    assert isinstance(q, AsQuoter)
    return q


def scripted(
    seed: int, *, secs: float, at_mid_after: float | None = None
) -> list[tuple[int, Message]]:
    """A random-walk mid with a one-tick book every 100 ms and Poisson trades (A = 50/s) at
    Exp(k = 0.5) from it; after `at_mid_after` seconds every trade prints exactly at the mid."""
    rng = random.Random(seed)
    out: list[tuple[int, Message]] = []
    mid, t, next_trade = 50_000.0, 0.0, rng.expovariate(50.0)
    bid = ask = D(0)
    while t < secs:
        t = round(t + 0.1, 9)
        mid += rng.gauss(0.0, 1.7)
        bid = D(repr(round(mid - 0.005, 2)))
        ask = bid + D("0.01")
        out.append((T0 + int(t * SEC), Quote(instrument="BTC/USDT", bid=bid, bid_size=D(1),
                                            ask=ask, ask_size=D(1))))  # fmt: skip
        while next_trade < t:
            side = "buy" if rng.random() < 0.5 else "sell"
            if at_mid_after is not None and next_trade >= at_mid_after:
                price = (bid + ask) / 2
            else:
                d = rng.expovariate(0.5)
                price = D(repr(round(float((bid + ask) / 2) + (d if side == "buy" else -d), 2)))
            out.append((T0 + int(t * SEC) + 1, Trade(instrument="BTC/USDT", price=price,
                                                     size=D("0.001"), side=side)))  # fmt: skip
            next_trade += rng.expovariate(50.0)
    return out


# -- the readiness gate ----------------------------------------------------------------------


def test_nothing_is_published_and_no_order_sent_before_the_estimators_are_warm() -> None:
    sink = ListSink()
    k, tape = desk(journal=Journal(level="full"), sink=sink)
    k.run(until_ns=T0 + 2 * SEC)  # 100 trades, 10 of sigma's 20 returns: cold
    q = quoter(k)
    assert 50 < q.state.trades < PARAMS.min_trades
    assert not q.state.ready and q.state.orders == 0
    assert not tape.got
    k.run(until_ns=T0 + 10 * SEC)
    k.stop()
    ready = tape.of(QuoterReady)
    assert len(ready) == 1, "ready once"
    seq_ready, msg = ready[0]
    assert isinstance(msg, QuoterReady) and msg.trades >= PARAMS.min_trades
    assert 40 < msg.A < 60 and 0.35 < msg.k < 0.65 and msg.sigma > 0
    # The first thing the quoter ever emits is the announcement; quotes and orders follow it.
    rows = [r for r in sink.rows if r.src == "quoter"]
    assert rows[0].type == "ml.QuoterReady" and rows[0].seq == seq_ready
    assert {r.type for r in rows[1:]} >= {"ml.QuoteUpdate", "risk.OrderIntent"}
    assert tape.of(QuoteUpdate) and tape.of(OrderApproved) and tape.of(OrderFilled)


def test_a_market_without_trades_never_warms_and_never_quotes() -> None:
    quotes_only = [(t, m) for t, m in scripted(3, secs=20) if isinstance(m, Quote)]
    k, tape = desk(market=False, source=quotes_only)
    k.run(until_ns=T0 + 20 * SEC)
    k.stop()
    q = quoter(k)
    assert q.sigma.ready and q.state.trades == 0
    assert not q.state.ready and q.state.orders == 0 and not tape.got


# -- fit failures ----------------------------------------------------------------------------


def test_a_failed_fit_is_published_and_logged_and_the_last_estimate_stays() -> None:
    params = msgspec.structs.replace(PARAMS, max_trades=300)
    # 10 s of a normal market, then 10 s of trades at the mid: once those fill the 300-trade
    # window every level above 0 is empty and no exponential fits.
    source = scripted(5, secs=20, at_mid_after=10.0)
    k, tape = desk(params, market=False, source=source, logger=structlog.get_logger("test"))
    with capture_logs() as logs:
        k.run(until_ns=T0 + 20 * SEC)
        k.stop()
    failed = [m for _, m in tape.of(IntensityFitFailed)]
    assert failed, "no fit failed"
    first = failed[0]
    assert isinstance(first, IntensityFitFailed)
    assert "at least 3 levels" in first.reason and first.trades == 300
    assert first.A is not None and first.k is not None  # the last good estimate, carried on
    events = [e for e in logs if e["event"] == "intensity_fit_failed"]
    assert len(events) == len(failed) and events[0]["reason"] == first.reason
    assert events[0]["log_level"] == "warning"
    # Quotes go on, with the estimate from before the failures.
    seq_failed = tape.of(IntensityFitFailed)[0][0]
    after = [m for s, m in tape.of(QuoteUpdate) if s > seq_failed]
    assert after and all(isinstance(m, QuoteUpdate) for m in after)
    assert {(m.A, m.k) for m in after if isinstance(m, QuoteUpdate)} == {(first.A, first.k)}
    q = quoter(k)
    assert q.intensity.estimate == (first.A, first.k)
    assert q.state.fit_failures == len(failed) and q.state.fits > 0


# -- quotes --------------------------------------------------------------------------------


def test_quotes_skew_against_the_inventory_the_fills_build() -> None:
    k, tape = desk()
    k.run(until_ns=T0 + 60 * SEC)
    k.stop()
    updates = [m for _, m in tape.of(QuoteUpdate) if isinstance(m, QuoteUpdate)]
    fills = [m for _, m in tape.of(OrderFilled) if isinstance(m, OrderFilled)]
    assert len(updates) > 100 and len(fills) > 20
    q = quoter(k)
    assert q.state.position == sum((f.qty if f.side == "buy" else -f.qty for f in fills), D(0)), (
        "the inventory is the fills'"
    )
    inventories = {u.inventory for u in updates}
    assert min(inventories) < 0 < max(inventories), "fills moved the inventory both ways"
    gamma, tau = PARAMS.gamma, PARAMS.horizon_secs
    for u in updates:
        qn = float(u.inventory / PARAMS.order_size)
        # r = s - q gamma sigma^2 tau: long lowers the reservation, short raises it.
        assert u.reservation == pytest.approx(u.mid - qn * gamma * u.sigma**2 * tau, rel=1e-12)
        assert math.copysign(1, u.mid - u.reservation) == math.copysign(1, qn) or qn == 0
        assert u.spread == pytest.approx(
            gamma * u.sigma**2 * tau + 2 / gamma * math.log1p(gamma / u.k), rel=1e-12
        )
        assert u.bid is not None and u.ask is not None and u.ask - u.bid >= PARAMS.tick_size
        assert u.bid % PARAMS.tick_size == 0 and u.ask % PARAMS.tick_size == 0
        assert D(repr(u.reservation - u.spread / 2)) >= u.bid  # rounding only widens
        assert D(repr(u.reservation + u.spread / 2)) <= u.ask
        # The side that would add to the position is further from the mid.
        if qn > 0:
            assert u.mid - float(u.bid) > float(u.ask) - u.mid
        elif qn < 0:
            assert float(u.ask) - u.mid > u.mid - float(u.bid)


def test_the_inventory_cap_stops_the_side_that_would_pass_it() -> None:
    params = msgspec.structs.replace(PARAMS, max_inventory=D("0.002"))
    k, tape = desk(params)
    k.run(until_ns=T0 + 60 * SEC)
    k.stop()
    updates = [m for _, m in tape.of(QuoteUpdate) if isinstance(m, QuoteUpdate)]
    assert {u.inventory for u in updates} <= {D(x) for x in ("-0.002", "-0.001", "0", "0.001",
                                                            "0.002")}  # fmt: skip
    capped = [u for u in updates if abs(u.inventory) == D("0.002")]
    assert capped, "the cap was reached"
    for u in capped:
        side = u.bid if u.inventory > 0 else u.ask
        size = u.bid_size if u.inventory > 0 else u.ask_size
        assert side is None and size == 0
    assert abs(quoter(k).state.position) <= D("0.002")


def test_a_halt_pulls_the_quotes_and_sends_no_order() -> None:
    from agents.risk.messages import SetTradingState

    k, tape = desk()
    k.run(until_ns=T0 + 20 * SEC)
    q = quoter(k)
    assert q.state.ready and q.state.open
    k.emit_input("operator:test", SetTradingState(scope="global", state="HALTED", reason="t",
                                                  by="t"), dst="risk")  # fmt: skip
    k.run(until_ns=T0 + 21 * SEC)
    orders, fills = q.state.orders, len(tape.of(OrderFilled))
    k.run(until_ns=T0 + 40 * SEC)
    k.stop()
    assert not q.state.open and q.state.bid is None and q.state.ask is None
    assert q.state.orders == orders, "no order while halted"
    assert len(tape.of(OrderFilled)) == fills
    assert tape.of(QuoteUpdate)[-1][0] > tape.of(OrderFilled)[-1][0]  # quotes still published


# -- determinism, snapshot and restore ---------------------------------------------------------


def test_the_same_seed_gives_the_same_journal() -> None:
    heads = []
    for _ in range(2):
        j = Journal(level="full")
        k, _ = desk(journal=j, sink=ListSink())
        k.run(until_ns=T0 + 15 * SEC)
        k.stop()
        heads.append(j.head)
    assert heads[0] == heads[1]


def test_a_kernel_restored_from_a_snapshot_quotes_exactly_as_the_original() -> None:
    k, tape = desk()
    k.run(until_ns=T0 + 20 * SEC)
    q = quoter(k)
    assert q.state.ready and q.state.fills > 0 and (q.state.bid or q.state.ask)
    snap = k.capture()
    # The quoter's own state: estimators, sides and position survive a round trip.
    data = q.snapshot()
    assert data is not None
    twin = AsQuoter(PARAMS)
    twin.restore(data)
    assert twin.snapshot() == data
    assert twin.sigma.value() == q.sigma.value() and twin.intensity.estimate == q.intensity.estimate
    assert twin.state.bid == q.state.bid and twin.state.position == q.state.position
    # A fresh kernel from that snapshot goes on exactly as the original does.
    k2, tape2 = desk(start_ns=k.now_ns())
    k2.install(snap)
    k2.started = True
    k2.seq = snap.seq
    k2.rearm_timers()
    for kernel in (k, k2):
        kernel.run(until_ns=T0 + 40 * SEC)
        kernel.stop()
    mine = [(s, m) for s, m in tape.got if s > snap.seq]
    assert len(mine) > 50 and mine == tape2.got


# -- config ----------------------------------------------------------------------------------


def test_bad_params_are_refused_at_start_with_the_key() -> None:
    cases = {
        "tick_size": ("0", "`tick_size` must be > 0"),
        "min_trades": (5000, "`min_trades` must be in [2, max_trades=2000]"),
        "gamma": (-1.0, "Expected `float` > 0.0 - at `$.agents[0].params.gamma`"),
    }
    for key, (value, text) in cases.items():
        cfg = KineticConfig(
            agents=[AgentConfig(name="quoter", kind="as_quoter", params={key: value})]
        )
        with pytest.raises(ConfigError) as err:
            actor_specs(cfg, source="test.toml")
        assert text in str(err.value) and str(err.value).startswith("test.toml: ")


def test_the_infinite_horizon_variant_quotes_and_skews_too() -> None:
    params = msgspec.structs.replace(PARAMS, horizon="infinite")
    k, tape = desk(params)
    k.run(until_ns=T0 + 40 * SEC)
    k.stop()
    updates = [m for _, m in tape.of(QuoteUpdate) if isinstance(m, QuoteUpdate)]
    assert len(updates) > 50 and tape.of(OrderFilled)
    for u in updates:
        assert u.bid is not None and u.ask is not None and u.bid < u.ask
        if u.inventory:
            assert (u.reservation < u.mid) == (u.inventory > 0)
    assert len({u.inventory for u in updates}) > 1
