"""The same config and seed give the same journal head on SQLite and on PostgreSQL, and replay."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.daemon import Daemon, daemon_config, kinetic
from tests.integration.test_cli import backtest

DSN = os.environ.get("KINETIC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_reachable() -> str:
    proc = subprocess.run(
        ["psql", DSN, "-Atc", "select 1"], capture_output=True, text=True, timeout=10, check=False
    )
    return "" if proc.returncode == 0 else proc.stderr.strip() or "psql failed"


@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    reason = _pg_reachable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(f"PostgreSQL unreachable: {reason}")
    schema = f"kinetic_cli_{secrets.token_hex(4)}"
    yield {
        "KINETIC_STORE__KIND": "postgres",
        "KINETIC_STORE__DSN": DSN,
        "KINETIC_STORE__SCHEMA": schema,
    }
    subprocess.run(
        ["psql", DSN, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
        check=False,
        capture_output=True,
    )


@pytest.mark.postgres
def test_one_config_and_seed_one_head_on_sqlite_and_postgres(
    tmp_path: Path, pg_env: dict[str, str]
) -> None:
    _, on_sqlite = backtest(tmp_path / "d", "--seed", "11", "--out", str(tmp_path / "s"))
    _, on_pg = backtest(tmp_path / "d", "--seed", "11", "--out", str(tmp_path / "p"), env=pg_env)
    assert on_pg["store"] == "postgres" and on_sqlite["store"] == "sqlite"
    assert on_pg["head"] == on_sqlite["head"]
    proc = kinetic("replay", str(on_pg["run_id"]), "--verify", data_dir=tmp_path / "d", env=pg_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = kinetic(
        "journal", "verify", "--run", str(on_pg["run_id"]), data_dir=tmp_path / "d", env=pg_env
    )
    assert proc.returncode == 0
    assert proc.stdout.strip().endswith(f"head={on_pg['head']}")


@pytest.mark.postgres
def test_the_daemon_on_postgres_survives_a_kill_and_its_run_replays(
    tmp_path: Path, pg_env: dict[str, str]
) -> None:
    effects = tmp_path / "effects.log"
    cfg = daemon_config(tmp_path, counter_path=effects, snapshot_every=200)
    data = tmp_path / "var"
    d = Daemon(cfg, data, env=pg_env)
    run_id = d.wait_for("runtime_started")["run_id"]
    time.sleep(0.5)
    d.kill()
    d = Daemon(cfg, data, env=pg_env)
    assert d.wait_for("runtime_started")["run_id"] == run_id
    time.sleep(0.3)
    assert d.stop() == 0
    keys = effects.read_text().splitlines()
    assert len(keys) == len(set(keys)) > 0
    proc = kinetic("replay", run_id, "--verify", data_dir=data, env=pg_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
