"""`kinetic demo ramp`: fiat -> wallet -> off-ramp against the fake Banxa, end to end.

It starts a real daemon (`kinetic run` with `config/ramp_demo.toml`, `MOCK_MODE=true`) in a
data dir of its own, drives it over the control API like an operator would, and prints the
timeline of both ramp orders, the wallet and the payouts, then stops the daemon and verifies
the journal's hash chain. Nothing here bypasses the product: the fake Banxa is reached over
HTTP by the production client, and its webhooks through the ingress.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import httpx

DEMO_CONFIG = Path("config/ramp_demo.toml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _DemoDaemon:
    def __init__(self, config: Path, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir / "daemon.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINETIC_")}
        env.update(MOCK_MODE="true", KINETIC_CONTROL_API__PORT=str(_free_port()),
                   KINETIC_WEBHOOKS__PORT=str(_free_port()))  # fmt: skip
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtime", "--data-dir", str(data_dir), "--log-format",
             "json", "run", "--config", str(config), "--new-run"],
            stdout=subprocess.DEVNULL, stderr=self._log, env=env,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if e.get("event") == "runtime_ready":
                    return str(e["control_api"])
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise click.ClickException(
            f"the demo daemon did not start; its log:\n{self.log_path.read_text()[-3000:]}"
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()
        return self.proc.returncode or 0


def _wait(http: httpx.Client, ramp_id: str, status: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = http.get(f"/ramp/orders/{ramp_id}").json()
        status.update(f"{ramp_id}: {last.get('stage')} ({last.get('provider_status') or '-'})")
        if last.get("stage") in ("complete", "failed", "rejected"):
            return last
        time.sleep(0.1)
    raise click.ClickException(f"{ramp_id} did not finish in {timeout:g} s: {last}")


@click.group()
def demo() -> None:
    """Run end-to-end demos of the product against its mock providers."""


@demo.command("ramp")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True),
    default=str(DEMO_CONFIG),
    show_default=True,
    help="The daemon config to run.",
)
@click.option("--user", default="demo-user", show_default=True, help="The wallet's owner.")
@click.option("--fiat", default="EUR", show_default=True, help="Fiat currency.")
@click.option("--amount", default="250.00", show_default=True, help="Fiat paid in.")
@click.option("--coin", default="BTC", show_default=True, help="Coin bought and sold.")
@click.option("--sell-share", type=click.FloatRange(0, 1, min_open=True), default=0.5,
              show_default=True, help="Share of the coins bought to off-ramp.")  # fmt: skip
@click.option("--keep", is_flag=True, help="Keep the demo's data dir (its path is printed).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of tables.")
def demo_ramp(
    config_file: str, user: str, fiat: str, amount: str, coin: str, sell_share: float,
    keep: bool, as_json: bool,
) -> None:  # fmt: skip
    """Fiat -> custodial wallet -> off-ramp in mock mode; print the timeline and the ledger."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    tmp = tempfile.mkdtemp(prefix="kinetic-demo-")
    data_dir = Path(tmp)
    daemon = _DemoDaemon(Path(config_file), data_dir)
    summary: dict[str, Any] = {"data_dir": str(data_dir)}
    try:
        with console.status("starting the daemon (mock Banxa, stub wallets)") as status:
            url = daemon.wait_ready()
            token = (data_dir / "control.token").read_text().strip()
            http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                timeout=30)  # fmt: skip
            status.update("on-ramp: placing")
            buy = {"side": "buy", "user": user, "fiat": fiat, "coin": coin,
                   "fiat_amount": amount, "ramp_id": "demo-onramp"}  # fmt: skip
            r = http.post("/ramp/orders", json=buy)
            if r.status_code != 201:
                raise click.ClickException(f"on-ramp refused: {r.text}")
            onramp = _wait(http, "demo-onramp", status)
            bought = Decimal(onramp["coin_amount"] or "0")
            sell = (bought * Decimal(str(sell_share))).quantize(Decimal("0.00000001"))
            status.update("off-ramp: placing")
            sale = {"side": "sell", "user": user, "fiat": fiat, "coin": coin,
                    "coin_amount": str(sell), "ramp_id": "demo-offramp"}  # fmt: skip
            r = http.post("/ramp/orders", json=sale)
            if r.status_code != 201:
                raise click.ClickException(f"off-ramp refused: {r.text}")
            offramp = _wait(http, "demo-offramp", status)
            wallet = http.get(f"/wallets/{_q(user)}").json()
            payouts = http.get("/events", params={"type": "ramp.FiatPaidOut"}).json()["events"]
            http.close()
    finally:
        code = daemon.stop()
    verify = subprocess.run(
        [sys.executable, "-m", "runtime", "--data-dir", str(data_dir), "journal", "verify"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    summary.update(onramp=onramp, offramp=offramp, wallet=wallet,
                   payouts=[p["msg"] for p in payouts], daemon_exit=code,
                   journal=verify.stdout.strip(), journal_ok=verify.returncode == 0)  # fmt: skip
    if not keep:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
        summary["data_dir"] = ""
    if as_json:
        click.echo(json.dumps(summary, default=str))
    else:
        out = Console()
        for o in (onramp, offramp):
            t = Table(title=f"{o['ramp_id']}: {o['side']} {o['user']} - {o['stage']}")
            for col in ("seq", "stage", "provider status", "what happened"):
                t.add_column(col)
            for h in o["history"]:
                t.add_row(str(h["seq"]), h["stage"], h["provider_status"] or "-", h["note"])
            out.print(t)
        w = Table(title=f"ledger: wallet of {user} and payouts")
        for col in ("account", "asset", "balance", "held"):
            w.add_column(col)
        for b in wallet["balances"]:
            w.add_row(f"custody/{user}", b["asset"], str(b["balance"]), str(b["held"]))
        for p in summary["payouts"]:
            w.add_row(f"bank/{p['user']} (paid out)", p["fiat"], str(p["amount"]), "-")
        out.print(w)
        out.print(f"journal: {summary['journal']}" + ("" if keep else " (data dir removed)"))
        if keep:
            out.print(f"data dir: {data_dir}")
    finished = onramp["stage"] == offramp["stage"] == "complete"
    if not (summary["journal_ok"] and finished):
        sys.exit(1)


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
