"""Run the pieces of a live daemon test as real processes: the fake Kraken, its config, prices."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.integration.daemon import REPO
from tests.integration.kraken_live.conftest import KEY, SECRET

CREDENTIALS = {"EXCHANGE_API_KEY": KEY, "EXCHANGE_API_SECRET": SECRET}
START_BALANCES = {"USDT": "10000000", "XXBT": "100"}


class FakeProcess:
    """The fake Kraken (`fake_process.py`) as a subprocess, with its state and request log."""

    def __init__(self, tmp: Path, /, *, price: str = "50000.0") -> None:
        self.state = tmp / "kraken-state.json"
        self.log = tmp / "kraken-requests.jsonl"
        args = [
            sys.executable, "-m", "tests.integration.kraken_live.fake_process",
            "--state", str(self.state), "--log", str(self.log),
            "--key", KEY, "--secret", SECRET, "--price", f"XBTUSDT={price}",
            *(f"--balance={a}={v}" for a, v in START_BALANCES.items()),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, cwd=REPO, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://"), f"the fake did not start: {self.url!r}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def push_price(self, price: str, volume: str | None = None) -> int:
        body: dict[str, Any] = {"pair": "XBTUSDT", "price": price}
        if volume is not None:
            body["volume"] = volume
        reply = self.http.post("/_fake/price", json=body)
        reply.raise_for_status()
        return int(reply.json()["fills"])

    def requests(self) -> list[dict[str, Any]]:
        """Every private request the fake got, from its log file."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def account(self) -> dict[str, Any]:
        reply = self.http.get(f"/_fake/accounts/{KEY}")
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data

    def stop(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def live_config(
    tmp: Path,
    url: str,
    /,
    *,
    mode: str = "live",
    paper_only: bool = False,
    interval_ms: int = 20,
    snapshot_every: int = 300,
) -> Path:
    """Write a daemon config: the gate, execution, the Kraken venue and tracker, a test strategy."""
    cfg = tmp / "live.toml"
    cfg.write_text(
        f"""
mode = "{mode}"
seed = 3

[control_api]
enabled = false

[journal]
snapshot_every = {snapshot_every}
flush_interval_ms = 2.0

[[agents]]
name = "risk"
kind = "risk_gate"
role = "risk"
params = {{ paper_only = {"true" if paper_only else "false"} }}

[[agents]]
name = "execution"
kind = "execution"
role = "execution"

[agents.params]
reconcile_venues = ["kraken"]

[agents.params.timeouts]
ack_timeout_ms = 1500.0
cancel_timeout_ms = 1000.0
query_timeout_ms = 1000.0
backoff_ms = 200.0

[[agents]]
name = "kraken_orders"
kind = "adapters.venues.kraken:KrakenTracker"
role = "execution"
params = {{ venue = "kraken" }}

[[agents]]
name = "pinger"
kind = "tests.integration.kraken_live.actors:KrakenPinger"
role = "ml"
params = {{ venue = "kraken", instrument = "BTC/USDT", interval_ms = {interval_ms} }}

[[adapters]]
name = "kraken"
kind = "kraken"

[adapters.params]
api_url = "{url}"
poll_interval_ms = 50
in_flight_ms = 300
lookback_secs = 600.0
retries = 1
retry_backoff_ms = 50.0
"""
    )
    return cfg
