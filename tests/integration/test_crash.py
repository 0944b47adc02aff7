"""Crash safety: SIGKILL the daemon at random points; nothing committed is lost or run twice."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from tests.integration.daemon import Daemon, daemon_config, kinetic

ITERATIONS = int(os.environ.get("KINETIC_CRASH_ITERATIONS", "20"))


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_committed_event_and_never_repeats_an_effect(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    effects = tmp_path / "effects.log"
    cfg = daemon_config(tmp_path, counter_path=effects, snapshot_every=300, tick_ms=2, effect_ms=5)
    rng = random.Random(20261122)
    committed: list[tuple[int, bytes]] = []  # (seq, hash) seen durable before each kill
    run_id = ""
    reconciled = recovered_outputs = 0
    for i in range(ITERATIONS):
        d = Daemon(cfg, data)
        started = d.wait_for("runtime_started")
        run_id = run_id or started["run_id"]
        assert started["run_id"] == run_id, "every restart continues the same run"
        recovery = d.wait_for("runtime_recovered")
        recovered_outputs += recovery["recovered_outputs"]
        time.sleep(rng.uniform(0.05, 0.6))
        reconciled += sum(1 for e in d.events() if e.get("event") == "effect_reconciled")
        d.kill()
        verify = kinetic("journal", "verify", "--run", run_id, data_dir=data)
        assert verify.returncode == 0, f"iteration {i}: {verify.stderr}"
        db = sqlite3.connect(data / "kinetic.db")
        for seq, digest in committed:
            row = db.execute(
                "SELECT hash FROM journal WHERE run_id = ? AND seq = ?", (run_id, seq)
            ).fetchone()
            assert row is not None and row[0] == digest, (
                f"iteration {i}: committed seq {seq} changed or vanished"
            )
        last = db.execute(
            "SELECT seq, hash FROM journal WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,)
        ).fetchone()
        db.close()
        if last is not None:
            committed.append((last[0], last[1]))
        keys = effects.read_text().splitlines() if effects.exists() else []
        assert len(keys) == len(set(keys)), f"iteration {i}: an effect was executed twice"
    # A last clean run: reconciles what the kills left pending, stops cleanly, and the whole
    # crash-ridden run replays as one.
    d = Daemon(cfg, data)
    d.wait_for("runtime_started")
    time.sleep(0.3)
    assert d.stop() == 0
    keys = effects.read_text().splitlines()
    assert len(keys) == len(set(keys)) > ITERATIONS
    assert committed and committed[-1][0] > committed[0][0]
    proc = kinetic("replay", run_id, "--verify", data_dir=data, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(
        f"crash loop: {ITERATIONS} kills, {reconciled} commands reconciled, "
        f"{recovered_outputs} lost outputs re-derived, {len(keys)} effects, "
        f"last seq {committed[-1][0]}"
    )
