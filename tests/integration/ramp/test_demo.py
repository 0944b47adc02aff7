"""`kinetic demo ramp`: the whole flow, as a user runs it (a daemon subprocess, real HTTP)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.integration.daemon import kinetic


def test_the_demo_runs_fiat_to_wallet_to_fiat_and_verifies(tmp_path: Path) -> None:
    proc = kinetic("demo", "ramp", "--json", "--amount", "1000", data_dir=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    on, off = out["onramp"], out["offramp"]
    assert (on["stage"], on["provider_status"]) == ("complete", "complete")
    assert (off["stage"], off["provider_status"]) == ("complete", "complete")
    bought = Decimal(on["coin_amount"])
    assert bought == Decimal("0.01980000")  # (1000 EUR - 1% fee) / 50,000
    sold = Decimal(off["coin_amount"])
    assert sold == bought / 2
    (btc,) = out["wallet"]["balances"]
    assert Decimal(btc["balance"]) == bought - sold and Decimal(btc["held"]) == 0
    assert [(p["fiat"], Decimal(p["amount"])) for p in out["payouts"]] == [
        ("EUR", Decimal("490.05"))  # 0.0099 BTC * 50,000 * 0.99, to the cent
    ]
    assert out["journal_ok"] and out["daemon_exit"] == 0
    notes = [h["note"] for h in off["history"]]
    assert any(n.startswith("sent ") for n in notes) and notes[-1].startswith("paid out")


def test_ctl_ramp_commands_talk_to_the_daemon(tmp_path: Path) -> None:
    from tests.integration.ramp.conftest import RampDaemon

    d = RampDaemon(tmp_path, env={"MOCK_MODE": "true"}).start()
    try:
        assert d.api is not None
        url = d.api.url
        common = ("ctl", "--url", url, "--token", d.api.tokens["operator"])
        made = kinetic(*common, "--json", "ramp", "onramp", "--user", "fay", "--fiat", "EUR",
                       "--amount", "100", "--coin", "BTC", "--id", "ctl-1",
                       data_dir=d.data)  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["order"]["ramp_id"] == "ctl-1"
        d.wait_stage("ctl-1", "complete")
        shown = kinetic(*common, "ramp", "show", "ctl-1", data_dir=d.data, check=True)
        assert "credited 0.00198000 BTC to fay" in shown.stdout
        listed = kinetic(*common, "ramp", "list", data_dir=d.data, check=True)
        assert "ctl-1" in listed.stdout
        wallet = kinetic(*common, "wallet", "fay", data_dir=d.data, check=True)
        assert "0.00198000" in wallet.stdout
        bad = kinetic(*common, "ramp", "onramp", "--user", "fay", "--fiat", "EUR", "--amount",
                      "-1", "--coin", "BTC", data_dir=d.data)  # fmt: skip
        assert bad.returncode != 0 and "positive" in bad.stderr
    finally:
        d.stop()
