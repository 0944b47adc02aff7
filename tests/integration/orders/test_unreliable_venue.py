"""The market maker against a venue that loses orders, drops and delays acknowledgements and
ignores queries: no order is ever placed twice, none fills past its size, money is never left
reserved for an order that is gone, and a backtest with faults still replays exactly."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

from adapters.venues.simulated import SimulatedVenue, SimulatedVenueConfig
from adapters.venues.simulated.config import VenueFaultsConfig
from agents.data.messages import Bar
from agents.execution.actor import Execution, ExecutionConfig
from agents.execution.messages import OrderFilled, ReconciliationReport, SubmitOrder
from agents.execution.timeouts import TimeoutConfig
from agents.ml.market_maker import BarMarketMaker, BarMarketMakerConfig
from agents.risk.actor import RiskGate
from agents.risk.config import RiskGateConfig
from runtime import Actor, ActorSpec, Message, SimKernel

D = Decimal
MIN = 60 * 10**9
REPO = Path(__file__).resolve().parents[3]
FAULTS = VenueFaultsConfig(lose_submit=0.03, drop_ack=0.05, delay_ack=0.03, ack_delay_ms=4_000,
                           duplicate_ack=0.02, lose_cancel=0.03, drop_cancel_ack=0.05,
                           lose_query=0.1)  # fmt: skip
ACCOUNT = {"USDT": D(100_000), "BTC": D(1)}


class CountingVenue(SimulatedVenue):
    """The simulated venue, counting how often each client id was placed in its book."""

    def on_start(self) -> None:
        super().on_start()
        self.placed: Counter[str] = Counter()
        self.sizes: dict[str, Decimal] = {}

    def on_submit(self, msg: SubmitOrder) -> None:
        before = self.state.next_order
        super().on_submit(msg)
        if self.state.next_order != before:
            self.placed[msg.client_id] += 1
            self.sizes[msg.client_id] = msg.qty


class Tape(Actor):
    def __init__(self) -> None:
        self.got: list[Message] = []

    def on_start(self) -> None:
        self.ctx.subscribe(OrderFilled)
        self.ctx.subscribe(ReconciliationReport)

    def on_any(self, msg: Message) -> None:
        self.got.append(msg)


def walk(n: int, seed: int) -> list[tuple[int, Bar]]:
    rng = random.Random(seed)
    price, out = D(30_000), []
    for i in range(n):
        step = D(rng.randint(-40, 40))
        close = price + step
        high = max(price, close) + D(rng.randint(0, 25))
        low = min(price, close) - D(rng.randint(0, 25))
        ts = (i + 1) * MIN
        out.append((ts, Bar(instrument="BTC/USDT", start_ns=i * MIN, end_ns=ts, open=price,
                            high=high, low=low, close=close, volume=D(5), trades=10)))  # fmt: skip
        price = close
    return out


def test_the_market_maker_over_an_unreliable_venue_never_duplicates_or_strands_money() -> None:
    k = SimKernel(start_ns=0, seed=7)
    venue = CountingVenue(SimulatedVenueConfig(relay=True, faults=FAULTS, balances=ACCOUNT))
    risk = RiskGate(RiskGateConfig(balances={"sim": ACCOUNT}))
    timeouts = TimeoutConfig(ack_timeout_ms=2_000, cancel_timeout_ms=2_000, query_timeout_ms=1_000)
    ex = Execution(ExecutionConfig(timeouts=timeouts, reconcile_venues=["sim"],
                                   expected_balances={"sim": ACCOUNT}))  # fmt: skip
    tape = Tape()
    k.add_actor(ActorSpec("sim", lambda: venue, role="execution"))
    k.add_actor(ActorSpec("risk", lambda: risk, role="risk"))
    k.add_actor(ActorSpec("execution", lambda: ex, role="execution"))
    k.add_actor(ActorSpec("mm", lambda: BarMarketMaker(BarMarketMakerConfig(venue="sim"))))
    k.add_actor(ActorSpec("tape", lambda: tape))
    bars = 1_500
    k.add_source("feed", walk(bars, seed=11), dst="sim")
    k.run(until_ns=(bars + 30) * MIN)  # the data ends; half an hour for every wait to settle

    st = ex.state
    assert st.timeouts > 20 and st.queries > 20 and st.resubmits > 0  # the faults did strike
    assert venue.state.duplicates == 0 and set(venue.placed.values()) == {1}
    fills: Counter[str] = Counter()
    for m in tape.got:
        if isinstance(m, OrderFilled):
            fills[m.client_id] += m.qty  # type: ignore[assignment]
    assert fills and all(q <= venue.sizes[cid] for cid, q in fills.items())
    # Once every wait has ended, the three views of what is open agree: nothing rests at the
    # venue that execution forgot, and the gate holds no reservation for an order that is gone.
    resting = {cid for book in venue.state.book.orders.values() for cid in book}
    assert set(st.open) == resting == set(risk.state.book.orders)
    assert st.watch == {}
    (report,) = [m for m in tape.got if isinstance(m, ReconciliationReport)]
    assert report.ok and report.balance_source == "config"


CONFIG = """
mode = "backtest"
seed = 3

[store]
kind = "sqlite"
path = "kinetic.db"

[journal]
level = "full"

[backtest]
start_ns = 1_704_067_200_000_000_000
duration_secs = 900.0

[[agents]]
name = "ticker"
kind = "simulated_ticker"
role = "data"
params = { instrument = "BTC/USDT", interval_ms = 250, s0 = 50000.0, sigma = 0.8 }

[[agents]]
name = "bars"
kind = "bar_builder"
role = "data"
params = { instrument = "BTC/USDT", bar_secs = 5 }

[[agents]]
name = "sim"
kind = "simulated_venue"
role = "execution"
[agents.params]
balances = { USDT = "100000", BTC = "1" }
[agents.params.faults]
lose_submit = 0.05
drop_ack = 0.05
delay_ack = 0.05
ack_delay_ms = 3000.0
lose_cancel = 0.05
drop_cancel_ack = 0.05
lose_query = 0.1

[[agents]]
name = "risk"
kind = "risk_gate"
role = "risk"

[[agents]]
name = "execution"
kind = "execution"
role = "execution"
[agents.params]
reconcile_venues = ["sim"]
[agents.params.timeouts]
ack_timeout_ms = 1000.0
cancel_timeout_ms = 1000.0
[agents.params.expected_balances.sim]
USDT = "100000"
BTC = "0.5"

[[agents]]
name = "mm"
kind = "bar_market_maker"
role = "ml"
params = { instrument = "BTC/USDT", venue = "sim" }
"""


def kinetic(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "--data-dir", str(data_dir), *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_backtest_with_faults_writes_the_reconciliation_and_replays_exactly(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "faulty.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    proc = kinetic(tmp_path / "var", "backtest", "--config", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "reconciliation.json").read_text())
    assert report["venue"] == "sim" and report["answered"] and not report["ok"]
    assert report["balance_mismatches"] == [
        {"asset": "BTC", "ledger": "0.5", "venue": "1", "difference": "0.5"}
    ]
    run = json.loads((out / "run.json").read_text())
    # Timers, lost acks and retries are all decided on the kernel clock and the seeded rng:
    # replay re-derives every output of the run, byte for byte.
    proc = kinetic(tmp_path / "var", "replay", run["run_id"], "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"head={run['head']}" in proc.stdout
