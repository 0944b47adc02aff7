"""Crash safety on a live venue: SIGKILL `kinetic run --mode live` during order flow, restart.

The fake Kraken runs as its own process with its account in a file; a test strategy submits an
order every 20 ms through risk -> execution -> the Kraken adapter, the test moves the price so
resting orders fill, and the daemon is killed at random points and restarted, 20 times. Then a
last run halts trading (SIGUSR1: every open order is cancelled at the venue) and stops cleanly.
The fake keeps Kraken's own rule (a client id is unique among *open* orders), so an order sent
twice would be placed twice, and counted.

Asserted, from the fake's request log and books and from the daemon's journal:

- no client id was ever placed twice, and every order at the venue has a journaled
  `SubmitOrder`; a client id sent again (execution's resubmission) only after Kraken answered
  `not_found` for it;
- every journaled command was settled (acknowledged, or reconciled after a crash; at most one
  of each), and a `SubmitOrder` reconciled `done` is at the venue; each placed order was
  accepted once, an order never placed was never accepted nor filled;
- every trade at the venue is one `OrderFilled` in the journal, none twice, and the starting
  balances plus the journaled fills equal Kraken's balances to the last digit;
- the journal verifies and the whole crash-ridden run replays as one.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import adapters.venues.kraken  # noqa: F401 - registers the reports' message types for decoding
from agents.execution.messages import OrderAccepted, OrderFilled, OrderStatusReport, SubmitOrder
from runtime import CODEC, EffectAcked, EffectFailed, EffectReconciled, Envelope
from tests.integration.daemon import Daemon, kinetic
from tests.integration.kraken_live.live import (
    CREDENTIALS,
    START_BALANCES,
    FakeProcess,
    live_config,
)

ITERATIONS = int(os.environ.get("KINETIC_CRASH_ITERATIONS", "20"))
D = Decimal


class PricePusher(threading.Thread):
    """Walk the fake's XBT/USDT price around 50,000 every 20 ms, filling resting orders."""

    def __init__(self, url: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.rng = random.Random(seed)
        self.halt = threading.Event()
        self.pushes = 0

    def run(self) -> None:
        price = D(50000)
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while not self.halt.wait(0.02):
                price = min(max(price + self.rng.randint(-60, 60), D(49700)), D(50300))
                volume = None if self.rng.random() < 0.7 else "0.004"  # some partial fills
                http.post(
                    "/_fake/price", json={"pair": "XBTUSDT", "price": str(price), "volume": volume}
                ).raise_for_status()
                self.pushes += 1


def journal(data: Path, run_id: str) -> list[Envelope]:
    db = sqlite3.connect(data / "kinetic.db")
    try:
        rows = db.execute(
            "SELECT data FROM journal WHERE run_id = ? AND kind != 'ck' ORDER BY seq", (run_id,)
        ).fetchall()
    finally:
        db.close()
    return [CODEC.decode(r[0]) for r in rows]


def placed_twice(fake: FakeProcess) -> list[str]:
    """Client ids Kraken accepted an order for more than once (from its request log)."""
    adds = [r for r in fake.requests() if r["method"] == "AddOrder" and not r["error"]]
    placed = Counter(r["params"].get("cl_ord_id") for r in adds)
    return [cl for cl, n in placed.items() if n > 1]


@pytest.mark.slow
def test_sigkill_during_live_order_flow_never_places_an_order_twice(tmp_path: Path) -> None:
    began = time.monotonic()
    fake = FakeProcess(tmp_path)
    data = tmp_path / "var"
    cfg = live_config(tmp_path, fake.url)
    rng = random.Random(20261203)
    pusher = PricePusher(fake.url, seed=7)
    pusher.start()
    run_id = ""
    d: Daemon | None = None
    try:
        for i in range(ITERATIONS):
            d = Daemon(cfg, data, env=CREDENTIALS, args=("--mode", "live"))
            started = d.wait_for("runtime_started", timeout=60)
            run_id = run_id or started["run_id"]
            assert started["run_id"] == run_id, "every restart continues the same run"
            d.wait_for("kraken_venue_started", timeout=60)
            time.sleep(rng.uniform(0.05, 0.45))
            d.kill()
            assert placed_twice(fake) == [], f"iteration {i}: a client id was placed twice"
        pusher.halt.set()
        pusher.join()
        # The last run: reconcile what the last kill left, halt (open orders are cancelled at
        # the venue), let the polls report everything, stop cleanly.
        d = Daemon(cfg, data, env=CREDENTIALS, args=("--mode", "live"))
        d.wait_for("kraken_venue_started", timeout=60)
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 20
        while any(o["status"] == "open" for o in fake.account()["orders"]):
            assert time.monotonic() < deadline, "the kill switch left orders open at the venue"
            time.sleep(0.05)
        time.sleep(0.5)  # a few more polls: every fill and cancel reported
        assert d.stop() == 0
        account = fake.account()
    finally:
        pusher.halt.set()
        if d is not None and d.proc.poll() is None:
            d.kill()
        fake.stop()

    assert placed_twice(fake) == []
    envs = journal(data, run_id)
    check_orders(envs, account, fake.requests())
    check_fills_and_balances(envs, account)
    verify = kinetic("journal", "verify", "--run", run_id, data_dir=data)
    assert verify.returncode == 0, verify.stderr
    replay = kinetic("replay", run_id, "--verify", data_dir=data, timeout=300)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    outcomes = Counter(e.msg.outcome for e in envs if isinstance(e.msg, EffectReconciled))
    print(
        f"kraken crash loop: {ITERATIONS} kills, {len(account['orders'])} orders placed, "
        f"{len(account['trades'])} fills, reconciled {dict(outcomes)}, "
        f"{pusher.pushes} price moves, {time.monotonic() - began:.1f} s"
    )
    assert sum(outcomes.values()) > 0, "no kill landed on an order in flight: nothing was tested"


def check_orders(
    envs: list[Envelope], account: dict[str, Any], requests: list[dict[str, Any]]
) -> None:
    submits = {e.seq: e.msg for e in envs if isinstance(e.msg, SubmitOrder)}
    ids = {m.client_id for m in submits.values()}
    placed = Counter(o.get("cl_ord_id") for o in account["orders"])
    assert all(n == 1 for n in placed.values()), "one order per client id at the venue"
    assert set(placed) <= ids, "every order at the venue was journaled first"
    # A client id goes to Kraken again only as a resubmission, after Kraken said `not_found`.
    not_found_at: dict[str, int] = {}
    for e in envs:
        if isinstance(e.msg, OrderStatusReport) and e.msg.status == "not_found":
            not_found_at.setdefault(e.msg.client_id, e.seq)
    for seq, cmd in submits.items():
        if cmd.attempt:
            assert cmd.client_id in not_found_at and not_found_at[cmd.client_id] < seq, cmd
    sent = Counter(r["params"].get("cl_ord_id") for r in requests if r["method"] == "AddOrder")
    attempts = Counter(m.client_id for m in submits.values())
    assert all(sent[cl] <= attempts[cl] for cl in sent), "no AddOrder without its command"
    settled: dict[int, list[Any]] = {e.seq: [] for e in envs if type(e.msg).effect}
    for e in envs:
        msg = e.msg
        if isinstance(msg, EffectAcked | EffectReconciled | EffectFailed) and (
            msg.command_seq in settled
        ):
            settled[msg.command_seq].append(msg)
    unsettled = [seq for seq, got in settled.items() if not got]
    by_seq = {e.seq: e for e in envs}
    assert unsettled == [], f"every command settled: {[(s, by_seq[s]) for s in unsettled]}"
    for seq, got in settled.items():
        kinds = Counter(type(m) for m in got)
        assert kinds[EffectAcked] <= 1 and kinds[EffectReconciled] <= 1, (seq, got)
        assert kinds[EffectFailed] == 0, (seq, got)
    # Known runtime defect (reported): a command lost in a crash and re-derived at restart is
    # both executed and reconciled. Harmless here (reconcile only reads), but counted.
    both = [seq for seq, got in settled.items() if len(got) == 2]
    print(f"commands both executed and reconciled after a restart: {len(both)}")
    for seq, cmd in submits.items():
        for how in settled[seq]:
            if isinstance(how, EffectReconciled):
                assert how.outcome in ("done", "not_done"), how
                if how.outcome == "done":
                    assert cmd.client_id in placed, cmd.client_id
    accepted = Counter(e.msg.client_id for e in envs if isinstance(e.msg, OrderAccepted))
    filled = {e.msg.client_id for e in envs if isinstance(e.msg, OrderFilled)}
    for cid in ids:
        if cid in placed:
            assert accepted[cid] == 1, (cid, accepted[cid])
        else:
            assert accepted[cid] == 0 and cid not in filled, cid


def check_fills_and_balances(envs: list[Envelope], account: dict[str, Any]) -> None:
    fills = [e.msg for e in envs if isinstance(e.msg, OrderFilled)]
    fill_ids = [f.fill_id for f in fills]
    assert len(fill_ids) == len(set(fill_ids)), "no fill reported twice"
    assert set(fill_ids) == {t["txid"] for t in account["trades"]}, "every venue trade, once"
    usdt, btc = D(START_BALANCES["USDT"]), D(START_BALANCES["XXBT"])
    for f in fills:
        sign = 1 if f.side == "buy" else -1
        btc += sign * f.qty
        usdt -= sign * f.qty * f.price + f.fee
    assert (D(account["balances"]["USDT"]), D(account["balances"]["XXBT"])) == (usdt, btc)
