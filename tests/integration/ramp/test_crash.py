"""SIGKILL the daemon during on-ramp completion and off-ramp sending (issue #6).

The fake Banxa runs as a process of its own (it is the outside world: it survives our crash),
auto-advancing orders every 50 ms and posting webhooks to the daemon's ingress; the daemon
talks to it as to production (`base_url`, credentials from the environment). Each iteration
starts an on-ramp and an off-ramp, kills the daemon at a random moment, restarts it, and waits
for both to finish. In the end: every wallet credited exactly once, every off-ramp's coins sent
exactly once, one Banxa order per ramp id, and the journal verifies.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from adapters.banxa.mock import MOCK_KEY, MOCK_SECRET
from tests.integration.daemon import REPO, kinetic
from tests.integration.ramp.conftest import RampDaemon
from tests.integration.test_control_api import free_port

ITERATIONS = 10
D = Decimal


def start_fake(hook_port: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapters.banxa.mock", "--step-secs", "0.05",
         "--webhook", f"http://127.0.0.1:{hook_port}/webhooks/banxa"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    proc.stdout.close()
    return proc, url


@pytest.mark.slow
def test_sigkill_during_ramps_credits_and_sends_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(6)
    hook_port = free_port()
    fake, url = start_fake(hook_port)
    env = {"BANXA_API_KEY": MOCK_KEY, "BANXA_API_SECRET": MOCK_SECRET}
    d = RampDaemon(tmp_path, env=env, hook_port=hook_port, banxa=f'base_url = "{url}"',
                   approval_above="1000")  # fmt: skip
    try:
        d.start()
        assert d.api is not None
        # seed the wallet the off-ramps spend from
        d.api.as_("operator").post("/ramp/orders", json={"side": "buy", "user": "zed",
            "fiat": "EUR", "coin": "BTC", "fiat_amount": "50000", "ramp_id": "seed"})  # fmt: skip
        d.wait_stage("seed", "complete")
        kills = 0
        for i in range(ITERATIONS):
            assert d.api is not None
            op = d.api.as_("operator")
            r1 = op.post("/ramp/orders", json={"side": "buy", "user": "zed", "fiat": "EUR",
                         "coin": "BTC", "fiat_amount": "1000", "ramp_id": f"on-{i}"})  # fmt: skip
            r2 = op.post("/ramp/orders", json={"side": "sell", "user": "zed", "fiat": "EUR",
                         "coin": "BTC", "coin_amount": "0.01", "ramp_id": f"off-{i}"})  # fmt: skip
            assert r1.status_code == 201 and r2.status_code == 201, (r1.text, r2.text)
            time.sleep(rng.uniform(0.0, 0.5))  # somewhere in placing, sending, completing
            assert d.daemon is not None
            d.daemon.kill()
            kills += 1
            d.api.close()
            d.start()
            d.wait_stage(f"on-{i}", "complete", timeout=30)
            d.wait_stage(f"off-{i}", "complete", timeout=30)
        assert kills == ITERATIONS
        assert d.api is not None
        credits = Counter(e["msg"]["ramp_id"] for e in d.api.events("ramp.WalletChanged")
                          if e["msg"]["reason"] == "onramp")  # fmt: skip
        sent = Counter(e["msg"]["ramp_id"] for e in d.api.events("ramp.WalletChanged")
                       if e["msg"]["reason"] == "offramp_sent")  # fmt: skip
        payouts = Counter(e["msg"]["ramp_id"] for e in d.api.events("ramp.FiatPaidOut"))
        for i in range(ITERATIONS):
            assert credits[f"on-{i}"] == 1, credits
            assert sent[f"off-{i}"] == 1, sent
            assert payouts[f"off-{i}"] == 1, payouts
        wallet = d.api.as_("viewer").get("/wallets/zed").json()["balances"][0]
        credited = D("0.99000000") + ITERATIONS * D("0.01980000")
        assert D(wallet["balance"]) == credited - ITERATIONS * D("0.01")
        assert D(wallet["held"]) == 0
    finally:
        d.stop()
        orders = httpx.get(f"{url}/_admin/orders").json()["orders"]
        fake.terminate()
        fake.wait(10)
    refs = Counter(o["account_reference"] for o in orders)
    assert all(n == 1 for n in refs.values()), refs  # one Banxa order per ramp id
    assert len(refs) == 2 * ITERATIONS + 1
    with sqlite3.connect(d.data / "wallets.sqlite") as db:
        rows = db.execute("SELECT ramp_id, COUNT(*) FROM transfers GROUP BY ramp_id").fetchall()
    assert sorted(rows) == sorted((f"off-{i}", 1) for i in range(ITERATIONS))
    assert all(o["tx_hash"] for o in orders if o["order_type"] == "CRYPTO-SELL")
    kinetic("journal", "verify", data_dir=d.data, check=True)
