"""Drive `kinetic` as a subprocess, as an operator or a script does: real processes, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def kinetic(
    *args: str,
    data_dir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run one `kinetic` command to completion and return it."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime",
            "--data-dir",
            str(data_dir),
            "--log-format",
            "json",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=_env(env),
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kinetic {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KINETIC_") or k == "KINETIC_TEST_PG_DSN"
    }
    env.update(extra or {})
    return env


class Daemon:
    """A `kinetic run` subprocess whose JSON log lines land in a file we can poll."""

    def __init__(
        self,
        config: Path,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.log_path = data_dir / f"daemon-{time.monotonic_ns()}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runtime",
                "--config",
                str(config),
                "--data-dir",
                str(data_dir),
                "--log-format",
                "json",
                "run",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            cwd=REPO,
            env=_env(env),
        )

    def events(self) -> list[dict[str, Any]]:
        """Return the JSON log lines written so far."""
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def wait_for(self, event: str, *, timeout: float = 30) -> dict[str, Any]:
        """Wait until the daemon logs `event`; fail with its log if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events():
                if e.get("event") == event:
                    return e
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(
            f"no `{event}` (exit {self.proc.poll()}):\n{self.log_path.read_text()}"
        )

    def kill(self) -> None:
        """SIGKILL: no drain, no flush, no goodbye."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self, *, timeout: float = 30) -> int:
        """SIGTERM and wait for a clean exit; return the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        return code


def daemon_config(
    tmp: Path,
    *,
    counter_path: Path,
    store: str = "",
    snapshot_every: int = 500,
    tick_ms: int = 5,
    effect_ms: int = 10,
    control_api: bool = False,
) -> Path:
    """Write a daemon config: ticker, bars, an effect emitter and a counting adapter.

    The control API is off unless asked for: these daemons are driven by signals and files.
    """
    cfg = tmp / "daemon.toml"
    cfg.write_text(
        f"""
mode = "paper"
seed = 1
{store}
[control_api]
enabled = {"true" if control_api else "false"}

[journal]
snapshot_every = {snapshot_every}
flush_interval_ms = 2.0

[[agents]]
name = "ticker"
kind = "simulated_ticker"
role = "data"
params = {{ instrument = "BTC/USDT", interval_ms = {tick_ms} }}

[[agents]]
name = "bars"
kind = "bar_builder"
role = "data"
params = {{ instrument = "BTC/USDT", bar_secs = 1 }}

[[agents]]
name = "emitter"
kind = "runtime.testing:EffectEmitter"
role = "execution"
params = {{ target = "counter", interval_ms = {effect_ms} }}

[[adapters]]
name = "counter"
kind = "runtime.testing:CountingAdapter"
params = {{ path = "{counter_path}" }}
"""
    )
    return cfg
