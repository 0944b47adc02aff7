"""The CLI as scripts and operators use it (DESIGN.md §7), each command as a real subprocess."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.integration.daemon import REPO, Daemon, daemon_config, kinetic

BACKTEST = str(REPO / "config" / "backtest.toml")


def backtest(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[Path, dict[str, object]]:
    proc = kinetic(
        "backtest",
        "--config",
        BACKTEST,
        "--duration-secs",
        "120",
        *args,
        data_dir=data_dir,
        env=env,
        check=True,
    )
    out = Path(proc.stdout.strip().splitlines()[-1])  # the last line is the artifacts dir
    if not out.is_absolute():
        out = REPO / out
    return out, json.loads((out / "run.json").read_text())


def test_same_seed_same_head_other_seed_other_head(tmp_path: Path) -> None:
    out1, run1 = backtest(tmp_path / "d", "--seed", "7", "--out", str(tmp_path / "a1"))
    _, run2 = backtest(tmp_path / "d", "--seed", "7", "--out", str(tmp_path / "a2"))
    _, run3 = backtest(tmp_path / "d", "--seed", "8", "--out", str(tmp_path / "a3"))
    assert out1 == tmp_path / "a1"
    assert run1["head"] == run2["head"] != run3["head"]
    assert run1["run_id"] != run2["run_id"]
    assert (out1 / "config.toml").read_text().startswith('mode = "backtest"')


def test_a_backtest_replays_and_verify_prints_events_and_head(tmp_path: Path) -> None:
    _, run = backtest(tmp_path / "d", "--seed", "3", "--out", str(tmp_path / "a"))
    proc = kinetic("replay", str(run["run_id"]), "--verify", data_dir=tmp_path / "d")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"head={run['head']}" in proc.stdout
    proc = kinetic("journal", "verify", "--run", str(run["run_id"]), data_dir=tmp_path / "d")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith("events=") and line.endswith(f"head={run['head']}")


def test_a_tampered_row_is_named_by_journal_verify_and_by_replay(tmp_path: Path) -> None:
    _, run = backtest(tmp_path / "d", "--seed", "3", "--out", str(tmp_path / "a"))
    db = sqlite3.connect(tmp_path / "d" / "kinetic.db")
    # The triggers refuse the edit; an attacker would drop them first.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE journal SET ts = ts + 1 WHERE run_id = ?", (run["run_id"],))
    db.execute("DROP TRIGGER journal_refuse_update")
    seq = db.execute(
        "SELECT seq FROM journal WHERE run_id = ? AND kind = 'in' ORDER BY seq LIMIT 1 OFFSET 50",
        (run["run_id"],),
    ).fetchone()[0]
    (data,) = db.execute(
        "SELECT data FROM journal WHERE run_id = ? AND seq = ?", (run["run_id"], seq)
    ).fetchone()
    forged = bytearray(data)
    forged[-1] ^= 1  # one bit of one row
    db.execute(
        "UPDATE journal SET data = ? WHERE run_id = ? AND seq = ?",
        (bytes(forged), run["run_id"], seq),
    )
    db.commit()
    db.close()
    proc = kinetic("journal", "verify", "--run", str(run["run_id"]), data_dir=tmp_path / "d")
    assert proc.returncode == 1
    assert f"seq={seq}" in proc.stderr
    proc = kinetic("replay", str(run["run_id"]), "--verify", data_dir=tmp_path / "d")
    assert proc.returncode == 1
    assert f"seq={seq}" in proc.stdout


def test_a_bad_config_names_file_key_and_type(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[kernel]\nmailbox_size = "big"\n')
    proc = kinetic("backtest", "--config", str(bad), data_dir=tmp_path / "d")
    assert proc.returncode == 2
    assert str(bad) in proc.stderr
    assert "Expected `int`, got `str` - at `$.kernel.mailbox_size`" in proc.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[agents]]\nname = "x"\nkind = "no_such_kind"\n')
    proc = kinetic("backtest", "--config", str(unknown), data_dir=tmp_path / "d")
    assert proc.returncode == 2
    assert "unknown kind `no_such_kind`" in proc.stderr and "$.agents[0].kind" in proc.stderr
    params = tmp_path / "params.toml"
    params.write_text(
        '[[agents]]\nname = "t"\nkind = "simulated_ticker"\nparams = { interval_ms = "fast" }\n'
    )
    proc = kinetic("backtest", "--config", str(params), data_dir=tmp_path / "d")
    assert proc.returncode == 2
    assert "$.agents[0].params.interval_ms" in proc.stderr


def test_config_show_redacts_secrets(tmp_path: Path) -> None:
    proc = kinetic(
        "config",
        "show",
        data_dir=tmp_path,
        env={"KINETIC_STORE__DSN": "postgresql://app:hunter2@db:5432/k"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "hunter2" not in proc.stdout
    assert "postgresql://app:***@db:5432/k" in proc.stdout


def test_every_command_has_help(tmp_path: Path) -> None:
    for cmd in (
        [],
        ["run"],
        ["backtest"],
        ["replay"],
        ["journal"],
        ["journal", "verify"],
        ["journal", "runs"],
        ["config"],
        ["config", "show"],
        ["version"],
    ):
        proc = kinetic(*cmd, "--help", data_dir=tmp_path)
        assert proc.returncode == 0, cmd
        assert "Usage:" in proc.stdout


def test_live_mode_without_credentials_names_the_missing_variables(tmp_path: Path) -> None:
    proc = kinetic("run", "--mode", "live", data_dir=tmp_path)
    assert proc.returncode != 0
    assert "mode=live requires env vars: EXCHANGE_API_KEY, EXCHANGE_API_SECRET" in proc.stderr
    proc = kinetic(
        "run",
        "--mode",
        "live",
        data_dir=tmp_path,
        env={"EXCHANGE_API_KEY": "k", "EXCHANGE_API_SECRET": "s"},
    )
    assert proc.returncode != 0
    assert "paper-only guard is on" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_daemon_runs_stops_cleanly_holds_its_data_dir_and_its_run_replays(tmp_path: Path) -> None:
    data = tmp_path / "var"
    cfg = daemon_config(tmp_path, counter_path=tmp_path / "effects.log")
    d = Daemon(cfg, data)
    started = d.wait_for("runtime_started")
    other = kinetic("--config", str(cfg), "run", data_dir=data, timeout=30)
    assert other.returncode == 2
    assert "in use by another kinetic daemon" in other.stderr
    d.wait_for("snapshot_saved")
    assert d.stop() == 0
    done = d.wait_for("runtime_complete")
    assert done["failures"] == 0 and done["reason"] == "signal SIGTERM"
    run_id = started["run_id"]
    # A second start continues the same run, from its snapshot.
    d2 = Daemon(cfg, data)
    again = d2.wait_for("runtime_started")
    assert again["run_id"] == run_id and not again["new_run"]
    recovered = d2.wait_for("runtime_recovered")
    assert recovered["snapshot_seq"] > 0
    assert d2.stop() == 0
    proc = kinetic("replay", run_id, "--verify", data_dir=data)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = kinetic("journal", "verify", "--run", run_id, data_dir=data)
    assert proc.returncode == 0 and proc.stdout.startswith("events=")


def test_run_port_flag_places_the_control_api(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = daemon_config(tmp_path, counter_path=tmp_path / "effects.log", control_api=True)
    d = Daemon(cfg, tmp_path / "var", args=("--port", str(port)))
    ready = d.wait_for("runtime_ready")
    assert ready["control_api"] == f"http://127.0.0.1:{port}"
    assert d.stop() == 0


@pytest.mark.parametrize(("choice", "expected"), [("auto", "uvloop"), ("asyncio", "asyncio")])
def test_run_picks_the_configured_event_loop(tmp_path: Path, choice: str, expected: str) -> None:
    cfg = daemon_config(tmp_path, counter_path=tmp_path / "effects.log")
    d = Daemon(cfg, tmp_path / "var", env={"KINETIC_KERNEL__EVENT_LOOP": choice})
    started = d.wait_for("runtime_started")
    assert started["event_loop"] == expected
    assert d.stop() == 0


def test_as_paper_backtest_reports_the_papers_finding(tmp_path: Path) -> None:
    env = {"KINETIC_AGENTS__0__PARAMS__PATHS": "200"}
    proc = kinetic(
        "backtest",
        "--config",
        str(REPO / "config" / "as_paper.toml"),
        "--out",
        str(tmp_path / "out"),
        data_dir=tmp_path / "d",
        env=env,
        check=True,
    )
    assert proc.stdout.strip().splitlines()[-1] == str(tmp_path / "out")
    rows = [
        json.loads(line) for line in (tmp_path / "out" / "reports.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 6
    cell = {(r["gamma"], r["strategy"]): r for r in rows}
    inv, sym = cell[(0.1, "inventory")], cell[(0.1, "symmetric")]
    # Avellaneda & Stoikov (2008), Table 1: far lower dispersion for the inventory strategy.
    assert inv["profit_std"] < 0.6 * sym["profit_std"]
    assert inv["q_std"] < 0.5 * sym["q_std"]
    assert "ml.ASPaperResult" in proc.stderr  # the table a person reads
