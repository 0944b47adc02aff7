"""`kinetic run --config config/paper.toml` as an operator runs it: a real daemon, real files.

It warms up, quotes, gets fills from the paper venue, writes its quotes to
`artifacts/<run_id>/quotes.jsonl` (exactly the journal's `ml.QuoteUpdate` rows), stops on
SIGTERM, continues the same run after a restart, and `kinetic replay RUN --verify` passes. A
live daemon refuses the paper store.
"""

from __future__ import annotations

import json
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.integration.daemon import REPO, Daemon, kinetic
from tests.integration.test_control_api import free_port

CONFIG = REPO / "config" / "paper.toml"
FIELDS = {"seq", "ts", "src", "type", "instrument", "bid", "ask", "bid_size", "ask_size", "mid",
          "reservation", "spread", "sigma", "A", "k", "inventory"}  # fmt: skip


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def journal_seqs(db: Path, run_id: str, type_: str) -> list[int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        rows = c.execute(
            "SELECT seq FROM journal WHERE run_id = ? AND type = ? ORDER BY seq", (run_id, type_)
        ).fetchall()
    return [r[0] for r in rows]


def run_until_filled(data: Path, out: Path, *, quotes: int) -> tuple[Daemon, dict[str, Any]]:
    """Start the paper daemon; wait until the file has `quotes` lines and a fill happened."""
    d = Daemon(CONFIG, data, env={"KINETIC_SERVICES__0__PARAMS__OUT_DIR": str(out)},
               args=("--port", str(free_port())))  # fmt: skip
    try:
        ready = d.wait_for("runtime_ready", timeout=60)
        token = (data / "control.token").read_text().strip()
        api = httpx.Client(base_url=ready["control_api"],
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        deadline = time.monotonic() + 20
        with api:
            while time.monotonic() < deadline and d.proc.poll() is None:
                filled = api.get("/events", params={"type": "execution.OrderFilled"}).json()
                if filled["events"] and len(lines(Path(ready["quotes"]))) >= quotes:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"no quotes and fills in time:\n{d.log_path.read_text()}")
            status = api.get("/status").json()
        assert status["mode"] == "paper" and status["run_id"] == ready["run_id"]
        assert status["actors"]["quoter"]["failures"] == 0
        assert status["actors"]["sim"]["failures"] == 0
        ready["filled"] = filled["events"]
        return d, ready
    except BaseException:
        d.stop()
        raise


def test_the_paper_profile_quotes_gets_fills_restarts_and_replays(tmp_path: Path) -> None:
    data, out = tmp_path / "var", tmp_path / "artifacts"
    d, ready = run_until_filled(data, out, quotes=10)
    assert d.stop() == 0
    run_id, path = ready["run_id"], Path(ready["quotes"])
    assert path == out / run_id / "quotes.jsonl"
    fill = ready["filled"][0]["msg"]
    assert fill["strategy"] == "quoter" and fill["venue"] == "sim"
    # The estimators warmed up on the simulated market and found its A = 50/s and k = 0.5/USDT.
    warm = [e for e in d.events() if e["event"] == "quoter_ready"]
    assert len(warm) == 1
    assert 35 < warm[0]["A"] < 65 and 0.35 < warm[0]["k"] < 0.65
    first = lines(path)
    assert len(first) >= 10

    # A restart continues the same run; the file goes on from where it stopped.
    d2, ready2 = run_until_filled(data, out, quotes=len(first) + 10)
    assert d2.stop() == 0
    assert ready2["run_id"] == run_id and "runtime_recovered" in {e["event"] for e in d2.events()}
    got = lines(path)
    assert got[: len(first)] == first
    db = data / "paper.db"
    seqs = [q["seq"] for q in got]
    assert seqs == journal_seqs(db, run_id, "ml.QuoteUpdate"), "the file is the journal's quotes"
    for q in got:
        assert set(q) == FIELDS and q["type"] == "ml.QuoteUpdate" and q["src"] == "quoter"
        bid, ask = Decimal(q["bid"]), Decimal(q["ask"])
        assert bid < ask and bid % Decimal("0.01") == 0 and ask % Decimal("0.01") == 0
        inventory = Decimal(q["inventory"])
        assert (q["reservation"] < q["mid"]) == (inventory > 0)  # skewed against the inventory
        assert abs(inventory) <= Decimal("0.01") and q["A"] > 0 and q["k"] > 0
    assert len({q["inventory"] for q in got}) > 1, "fills moved the inventory"

    replayed = kinetic("--config", str(CONFIG), "replay", run_id, "--verify", data_dir=data)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.startswith(f"replay ok run={run_id}")

    # A live daemon refuses the paper store, in one line naming the key to change.
    live = tmp_path / "live.toml"
    live.write_text(
        'mode = "live"\n[store]\npath = "paper.db"\n[control_api]\nenabled = false\n'
        '[[agents]]\nname = "risk"\nkind = "risk_gate"\nrole = "risk"\n'
        "params = { paper_only = false }\n"
    )
    creds = {"EXCHANGE_API_KEY": "k", "EXCHANGE_API_SECRET": "s"}
    proc = kinetic("--config", str(live), "run", data_dir=data, env=creds)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"kinetic: the sqlite store holds paper runs (`{run_id}`); a live daemon needs a store "
        "of its own: set `store.path` (sqlite) or `store.schema` (postgres) - at `$.store`"
    )
