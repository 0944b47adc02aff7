"""SIGUSR1, the kill switch without HTTP: all trading halts, open orders get cancel requests."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.integration.daemon import Daemon
from tests.integration.test_control_api import free_port, write_config


def test_sigusr1_halts_all_trading_and_cancels_open_orders(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "k.toml", port=port)
    data = tmp_path / "var"
    d = Daemon(cfg, data)
    try:
        d.wait_for("runtime_ready")
        token = (data / "control.token").read_text().strip()
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        time.sleep(0.3)  # let the spammer get some orders approved
        d.proc.send_signal(signal.SIGUSR1)
        d.wait_for("kill_switch")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = api.get("/trading-state").json()
            if state["global_state"] == "HALTED":
                break
            time.sleep(0.05)
        assert state["global_state"] == "HALTED"
        events = api.get(
            "/events", params={"type": ["kernel.TradingStateChanged", "risk.CancelOpenOrders"]}
        ).json()["events"]
        kinds = [e["msg"]["type"] for e in events]
        assert kinds[:2] == ["kernel.TradingStateChanged", "risk.CancelOpenOrders"]
        assert events[0]["src"] == "operator:signal"
        assert events[0]["msg"]["by"] == "signal:SIGUSR1"
        halted_at = events[0]["seq"]
        time.sleep(0.3)
        approved_after = api.get(
            "/events", params={"type": "risk.OrderApproved", "after": halted_at}
        ).json()["events"]
        denied = api.get("/events", params={"type": "risk.OrderDenied", "after": halted_at}).json()[
            "events"
        ]
        assert approved_after == []
        assert denied and all(e["msg"]["code"] == "HALTED" for e in denied)
        audit = api.get("/audit").json()
        api.close()
        assert any(a["who"] == "signal" for a in audit["entries"]), audit
    finally:
        assert d.stop() == 0
