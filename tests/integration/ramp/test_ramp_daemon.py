"""The ramp flow against a daemon subprocess and the fake Banxa, over real HTTP (issue #6)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.integration.ramp.conftest import RampDaemon, signed_webhook

D = Decimal


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[RampDaemon]:
    d = RampDaemon(tmp_path, env={"MOCK_MODE": "true"}).start()
    yield d
    d.stop()


@pytest.fixture
def manual(tmp_path: Path) -> Iterator[RampDaemon]:
    """Mock mode with no auto-advance: the test moves the fake's statuses itself."""
    d = RampDaemon(tmp_path, env={"MOCK_MODE": "true"},
                   banxa="mock = true, mock_step_secs = 0", poll_secs=600.0).start()  # fmt: skip
    yield d
    d.stop()


def create(d: RampDaemon, role: str = "operator", **body: object) -> httpx.Response:
    assert d.api is not None
    return d.api.as_(role).post("/ramp/orders", json=body)


def test_onramp_then_a_large_offramp_through_an_approval(mock: RampDaemon) -> None:
    r = create(mock, side="buy", user="carol", fiat="EUR", coin="BTC", fiat_amount="5000",
               ramp_id="on-1")  # fmt: skip
    assert r.status_code == 201, r.text
    done = mock.wait_stage("on-1", "complete")
    assert done["coin_amount"] == "0.09900000"  # (5000 - 1% fee) / 50,000
    assert mock.api is not None
    wallet = mock.api.as_("viewer").get("/wallets/carol").json()
    (btc,) = wallet["balances"]
    assert (btc["asset"], D(btc["balance"]), D(btc["held"]), D(btc["free"])) == (
        "BTC", D("0.099"), 0, D("0.099"))

    # too much: refused, nothing held
    r = create(mock, side="sell", user="carol", fiat="EUR", coin="BTC", coin_amount="1")
    assert r.status_code == 409 and "insufficient_funds" in r.text
    # above 0.05 BTC: waits for an approver; the operator who asked cannot approve it
    r = create(mock, side="sell", user="carol", fiat="EUR", coin="BTC", coin_amount="0.06",
               ramp_id="off-1")  # fmt: skip
    assert r.status_code == 201, r.text
    mock.wait_stage("off-1", "awaiting_approval")
    held = mock.api.as_("viewer").get("/wallets/carol").json()["balances"][0]
    assert (D(held["held"]), D(held["free"])) == (D("0.06"), D("0.039"))
    pending = mock.api.as_("viewer").get("/approvals").json()["approvals"]
    (req,) = [a for a in pending if a["request_id"] == "ramp:off-1"]
    assert req["requested_by"] == "otto"
    own = mock.api.as_("operator").post("/approvals/ramp:off-1/approve", json={"reason": "me"})
    assert own.status_code == 403
    ok = mock.api.as_("approver").post("/approvals/ramp:off-1/approve", json={"reason": "ok"})
    assert ok.status_code == 200, ok.text
    done = mock.wait_stage("off-1", "complete")
    assert done["tx_hash"].startswith("0x")
    wallet = mock.api.as_("viewer").get("/wallets/carol").json()["balances"][0]
    assert (D(wallet["balance"]), D(wallet["held"])) == (D("0.039"), 0)
    payouts = mock.api.events("ramp.FiatPaidOut")
    assert [(e["msg"]["fiat"], e["msg"]["amount"]) for e in payouts] == [("EUR", "2970.00")]
    notes = [h["note"] for h in done["history"]]  # type: ignore[index]
    assert any("approved by alice" in n for n in notes)
    assert any(n.startswith("sent 0.06 BTC") for n in notes)


def test_bad_requests_are_4xx_with_a_reason(mock: RampDaemon) -> None:
    cases = [
        ({"side": "buy", "user": "u", "fiat": "EUR", "coin": "BTC"}, 400, "fiat_amount"),
        ({"side": "buy", "user": "u", "fiat": "EUR", "coin": "BTC", "fiat_amount": "-5"}, 400,
         "fiat_amount"),
        ({"side": "buy", "user": "u", "fiat": "eur", "coin": "BTC", "fiat_amount": "5"}, 400,
         "fiat"),
        ({"side": "sideways", "user": "u", "fiat": "EUR", "coin": "BTC"}, 400, "side"),
    ]  # fmt: skip
    for body, code, word in cases:
        r = create(mock, **body)
        assert r.status_code == code, (body, r.text)
        assert word in r.text
    assert create(mock, role="viewer", side="buy", user="u", fiat="EUR", coin="BTC",
                  fiat_amount="5").status_code == 403  # fmt: skip
    assert mock.api is not None
    assert mock.api.as_("viewer").get("/ramp/orders/nope").status_code == 404
    assert mock.api.as_("viewer").get("/ramp/orders").json()["count"] == 0


def test_webhooks_duplicates_forgeries_and_replays(manual: RampDaemon) -> None:
    d = manual
    assert create(d, side="buy", user="dave", fiat="EUR", coin="BTC", fiat_amount="100",
                  ramp_id="w-1").status_code == 201  # fmt: skip
    oid = str(d.wait_stage("w-1", "open")["provider_order_id"])
    banxa = d.banxa_url()
    httpx.post(f"{banxa}/_admin/orders/{oid}/status", json={"status": "paymentReceived"})
    d.wait_stage("w-1", "open")
    deadline = time.monotonic() + 10
    while d.order("w-1")["provider_status"] != "paymentReceived":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # 100 duplicates of a status already taken: one transition in all
    for _ in range(100):
        assert signed_webhook(d.hooks, oid, "paymentReceived").status_code == 200
    # forged, stale, replayed and tampered deliveries: 401, nothing changes
    httpx.post(f"{banxa}/_admin/orders/{oid}/status", json={"status": "inProgress"})
    d_before = d.order("w-1")
    forged = signed_webhook(d.hooks, oid, "complete", secret="guessed")
    stale = signed_webhook(d.hooks, oid, "complete", nonce=str(time.time_ns() // 10**6 - 900_000))
    n = str(time.time_ns() // 1_000_000 + 7)
    first = signed_webhook(d.hooks, oid, "inProgress", nonce=n)
    replay = signed_webhook(d.hooks, oid, "inProgress", nonce=n)
    good = b'{"order_id":"%s","status":"inProgress","status_date":""}' % oid.encode()
    from adapters.banxa.mock import MOCK_KEY, MOCK_SECRET
    from adapters.banxa.sign import authorization

    auth = authorization(MOCK_KEY, MOCK_SECRET, "POST", "/webhooks/banxa",
                         str(time.time_ns() // 10**6 + 9), good)  # fmt: skip
    tampered = httpx.post(f"{d.hooks}/webhooks/banxa", headers={"Authorization": auth},
                          content=good.replace(b"inProgress", b"complete"))  # fmt: skip
    unsigned = httpx.post(f"{d.hooks}/webhooks/banxa", content=good)
    for resp in (forged, stale, replay, tampered, unsigned):
        assert resp.status_code == 401, resp.text
    assert "40100" in forged.text and "40002" in stale.text and "40003" in replay.text
    assert first.status_code == 200
    assert signed_webhook(d.hooks, oid, "x", body=b"not json").status_code == 400
    after = d.order("w-1")
    steps = [(h["provider_status"]) for h in after["history"]]  # type: ignore[union-attr]
    assert steps.count("paymentReceived") == 1
    assert steps.count("inProgress") == 1
    assert after["stage"] == "open" and d_before["stage"] == "open"
    assert d.api is not None
    assert d.api.as_("viewer").get("/wallets/dave").status_code == 404  # never credited


def test_a_run_with_ramp_orders_replays_and_verifies(mock: RampDaemon) -> None:
    from tests.integration.daemon import kinetic

    assert create(mock, side="buy", user="erin", fiat="EUR", coin="BTC", fiat_amount="100",
                  ramp_id="rv-1").status_code == 201  # fmt: skip
    mock.wait_stage("rv-1", "complete")
    mock.stop()
    runs = kinetic("journal", "runs", "--json", data_dir=mock.data, check=True)
    import json

    run_id = [json.loads(line) for line in runs.stdout.splitlines()][-1]["run_id"]
    kinetic("journal", "verify", "--run", run_id, data_dir=mock.data, check=True)
    rep = kinetic("replay", run_id, "--verify", data_dir=mock.data)
    assert rep.returncode == 0, rep.stdout + rep.stderr
