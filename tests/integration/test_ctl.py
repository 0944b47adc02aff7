"""`kinetic ctl`, black-box: a `kinetic run` subprocess, and `kinetic ctl` subprocesses against it.

One daemon (the default profile's agents, on a free port) serves the module; the tests run in
file order, so the kill comes before the resume and the event tail sees both. The tokens are made
the way an operator makes them, with `kinetic ctl token create`.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from runtime.cli import main
from tests.integration.daemon import REPO, Daemon, _env, kinetic

DEFAULT_ACTORS = ("ticker", "bars", "risk", "devices", "approvals")


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(path: Path, *, port: int) -> Path:
    """Write the default profile (its agents, its store) with the control API on `port`."""
    text = (REPO / "config" / "default.toml").read_text()
    text, n = re.subn(r"(?m)^port\s*=\s*\d+", f"port = {port}", text)
    assert n == 1, "config/default.toml no longer sets control_api.port"
    path.write_text(text)
    return path


class Env:
    """The module's daemon, its config and data dir, and the tokens made for it."""

    def __init__(self, config: Path, data: Path, port: int, daemon: Daemon) -> None:
        self.config = config
        self.data = data
        self.port = port
        self.daemon = daemon
        self.tokens: dict[str, str] = {}

    def ctl(
        self, *args: str, role: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `kinetic ctl ARGS` with `role`'s token (None: the default token file, admin)."""
        token = ("--token", self.tokens[role]) if role is not None else ()
        return kinetic(
            "--config", str(self.config), "ctl", *token, *args, data_dir=self.data, timeout=timeout
        )

    def ok(self, *args: str, role: str | None = None) -> str:
        """Run `kinetic ctl ARGS`, assert it succeeded and return its stdout."""
        proc = self.ctl(*args, role=role)
        assert proc.returncode == 0, f"ctl {args} exited {proc.returncode}:\n{proc.stderr}"
        return proc.stdout

    def json(self, *args: str, role: str | None = None) -> Any:
        """Run `kinetic ctl --json ARGS` and parse its stdout."""
        return json.loads(self.ok("--json", *args, role=role))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("ctl")
    port = free_port()
    config = write_config(tmp / "ctl.toml", port=port)
    data = tmp / "var"
    d = Daemon(config, data)
    try:
        ready = d.wait_for("runtime_ready", timeout=60)
        assert ready["control_api"] == f"http://127.0.0.1:{port}"
        yield Env(config, data, port, d)
    finally:
        if d.proc.poll() is None:
            d.stop()


# -- without a daemon --------------------------------------------------------------------------


def _commands(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for name, cmd in group.commands.items():
        yield (*path, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))


def test_every_subcommand_has_help() -> None:
    ctl = main.commands["ctl"]
    assert isinstance(ctl, click.Group)
    paths = [("ctl",), *_commands(ctl, ("ctl",))]
    names = {" ".join(p) for p in paths}
    for expected in (
        "ctl status",
        "ctl kill",
        "ctl reduce",
        "ctl resume",
        "ctl guard",
        "ctl quarantine list",
        "ctl quarantine add",
        "ctl quarantine release",
        "ctl approvals list",
        "ctl approvals request",
        "ctl approvals approve",
        "ctl approvals reject",
        "ctl events tail",
        "ctl audit",
        "ctl token create",
    ):
        assert expected in names
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_no_daemon_says_so_and_exits_1(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "nodaemon.toml", port=port)
    proc = kinetic(
        "--config", str(config), "ctl", "--token", "kin_x", "status", data_dir=tmp_path / "var"
    )
    assert proc.returncode == 1, proc
    line = proc.stderr.strip()
    assert line.startswith(
        f"kinetic ctl: no daemon at http://127.0.0.1:{port}: is `kinetic run` running?"
    ), line
    assert len(line.splitlines()) == 1
    assert proc.stdout == ""


def test_missing_token_file_is_a_usage_error(tmp_path: Path) -> None:
    proc = kinetic("ctl", "--url", "http://127.0.0.1:9", "status", data_dir=tmp_path / "empty")
    assert proc.returncode == 2, proc
    assert proc.stderr.startswith("kinetic ctl: no token file at"), proc.stderr


def test_token_create_needs_no_daemon(tmp_path: Path) -> None:
    data = tmp_path / "var"
    proc = kinetic("ctl", "token", "create", "--role", "approver", "--name", "ann", data_dir=data)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert token.startswith("kin_") and len(proc.stdout.splitlines()) == 1
    assert "shown only now" in proc.stderr
    assert token not in (data / "tokens.json").read_text()  # stored hashed
    assert (data / "tokens.json").stat().st_mode & 0o777 == 0o600
    again = kinetic("ctl", "token", "create", "--role", "viewer", "--name", "ann", data_dir=data)
    assert again.returncode == 2
    assert "a token named `ann` exists" in again.stderr
    bad = kinetic("ctl", "token", "create", "--role", "root", "--name", "x", data_dir=data)
    assert bad.returncode == 2
    listed = json.loads(kinetic("ctl", "--json", "token", "list", data_dir=data).stdout)
    assert listed == [{"name": "ann", "role": "approver"}]


# -- against the daemon -------------------------------------------------------------------------


def test_token_create_makes_working_tokens(env: Env) -> None:
    for role, name in (("viewer", "vera"), ("operator", "otto"), ("approver", "alice")):
        proc = env.ctl("token", "create", "--role", role, "--name", name)
        assert proc.returncode == 0, proc.stderr
        env.tokens[role] = proc.stdout.strip()
    out = env.ok("status", role="viewer")
    assert "ticker" in out
    refused = env.ctl("kill", "--reason", "viewer tries", role="viewer")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "kinetic ctl: role `viewer` may not `kill`; it needs one of: operator, admin (HTTP 403)"
    )
    unknown = env.ctl("--token", "kin_not-a-token", "status")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "kinetic ctl: invalid bearer token (HTTP 401)"


def test_status_shows_every_actor(env: Env) -> None:
    out = env.ok("status")
    for actor in DEFAULT_ACTORS:
        assert re.search(rf"(?m)^\W*{actor}\W", out), (actor, out)
    for column in ("handled", "rate/s", "depth", "dropped", "restarts"):
        assert column in out
    assert "ACTIVE" in out
    assert "/1024" in out  # depth/capacity


def test_json_output_parses(env: Env) -> None:
    status = env.json("status", role="viewer")
    actors = status["actors"]
    assert isinstance(actors, dict)
    assert set(DEFAULT_ACTORS) <= set(actors)
    assert actors["ticker"]["handled"] > 0
    assert status["paper_only"] is True
    assert env.json("trading") == {"global_state": "ACTIVE", "scopes": []}
    guard = env.json("guard")
    assert guard["paper_only"] is True
    assert env.json("quarantine", "list") == {"count": 0, "devices": []}
    # `--json` also works after the subcommand, where people type it.
    after = json.loads(env.ok("status", "--json", role="viewer"))
    assert set(DEFAULT_ACTORS) <= set(after["actors"])


def test_kill_halts_and_only_admin_resumes(env: Env) -> None:
    out = env.ok("kill", "--reason", "ctl test halt", role="operator")
    assert out.startswith("HALTED global"), out
    assert "by otto" in out
    assert "cancel requested" in out
    assert re.search(r"(?m)trading\s.*HALTED", env.ok("status")), env.ok("status")
    assert env.json("trading")["global_state"] == "HALTED"
    assert "global: HALTED" in env.ok("trading", role="viewer")

    for role in ("viewer", "operator"):
        refused = env.ctl("resume", "--reason", "too soon", role=role)
        assert refused.returncode == 1, refused
        assert refused.stderr.strip() == (
            f"kinetic ctl: role `{role}` may not `resume`; it needs one of: admin (HTTP 403)"
        )
    assert env.json("trading")["global_state"] == "HALTED"

    resumed = env.json("resume", "--reason", "all clear")  # the admin token file
    assert resumed["event"]["msg"]["state"] == "ACTIVE"
    assert resumed["cancel_seq"] is None
    assert env.json("trading")["global_state"] == "ACTIVE"


def test_scoped_kill_and_reduce(env: Env) -> None:
    scope = ("--scope", "instrument", "--target", "BTC/USDT")
    out = env.ok("reduce", *scope, "--reason", "vol", role="operator")
    assert out.startswith("REDUCING instrument BTC/USDT"), out
    state = env.json("trading")
    assert state["global_state"] == "ACTIVE"
    assert [(s["scope"], s["target"], s["state"]) for s in state["scopes"]] == [
        ("instrument", "BTC/USDT", "REDUCING")
    ]
    env.ok("resume", *scope, "--reason", "calm")
    assert env.json("trading")["scopes"] == []


def test_usage_errors_exit_2(env: Env) -> None:
    no_target = env.ctl("kill", "--scope", "venue", "--reason", "x", role="operator")
    assert no_target.returncode == 2
    assert "--target is required with --scope venue" in no_target.stderr
    assert env.ctl("kill", role="operator").returncode == 2  # no --reason
    assert env.ctl("kill", "--scope", "galaxy", "--reason", "x").returncode == 2
    assert env.ctl("guard", "on").returncode == 2  # no --reason
    assert env.ctl("approvals", "list", "--state", "maybe").returncode == 2
    # Nothing of that reached the journal.
    assert env.json("trading")["global_state"] == "ACTIVE"


def test_guard_show_on_and_refused_off(env: Env) -> None:
    out = env.ok("guard", role="viewer")
    assert "paper-only guard: ON" in out
    assert "exchange credentials: absent" in out
    assert "set by otto" in env.ok("guard", "on", "--reason", "belt and braces", role="operator")
    off = env.ctl("guard", "off", "--reason", "go live", "--confirm", "yes")
    assert off.returncode == 1
    assert off.stderr.startswith("kinetic ctl: the paper-only guard stays on: missing"), off.stderr
    assert "(HTTP 409)" in off.stderr
    assert env.json("guard")["paper_only"] is True


def test_quarantine_add_list_release(env: Env) -> None:
    out = env.ok("quarantine", "add", "sensor-7", "--reason", "tampered", role="operator")
    assert out.startswith("device sensor-7 quarantined"), out
    again = env.ok("quarantine", "add", "sensor-7", "--reason", "still", role="operator")
    assert "already quarantined" in again
    listed = env.ok("quarantine", "list", role="viewer")
    assert "sensor-7" in listed and "tampered" in listed
    refused = env.ctl("quarantine", "release", "sensor-7", "--reason", "fixed", role="operator")
    assert refused.returncode == 1 and "(HTTP 403)" in refused.stderr
    assert env.ok("quarantine", "release", "sensor-7", "--reason", "fixed").startswith(
        "device sensor-7 released"
    )
    assert "no device is quarantined" in env.ok("quarantine", "list")
    slashed = env.ctl("quarantine", "add", "site/7", "--reason", "x", role="operator")
    assert slashed.returncode == 2 and "contains `/`" in slashed.stderr


def test_approvals_request_list_approve(env: Env) -> None:
    made = env.json(
        "approvals",
        "request",
        "--action",
        "withdraw",
        "--detail",
        "250 USDT to cold storage",
        "--timeout-secs",
        "600",
        role="operator",
    )
    approval = made["approval"]
    assert isinstance(approval, dict)
    rid = approval["request_id"]
    assert approval["state"] == "pending" and approval["requested_by"] == "otto"

    pending = env.ok("approvals", "list", role="viewer")
    assert rid in pending and "withdraw" in pending and "otto" in pending
    assert rid in [a["request_id"] for a in env.json("approvals", "list")["approvals"]]

    # Four eyes: the requester may not decide (an operator may not decide at all).
    mine = env.ctl("approvals", "approve", rid, role="operator")
    assert mine.returncode == 1 and "(HTTP 403)" in mine.stderr

    out = env.ok("approvals", "approve", rid, "--reason", "checked the address", role="approver")
    assert out.startswith(f"{rid} approved by alice"), out
    assert "no pending approval requests" in env.ok("approvals", "list")
    approved = env.json("approvals", "list", "--state", "approved")["approvals"]
    assert [(a["request_id"], a["decided_by"]) for a in approved] == [(rid, "alice")]

    twice = env.ctl("approvals", "reject", rid, "--reason", "changed my mind", role="approver")
    assert twice.returncode == 1 and "(HTTP 409)" in twice.stderr
    missing = env.ctl("approvals", "approve", "req-nope", role="approver")
    assert missing.returncode == 1 and "(HTTP 404)" in missing.stderr

    own = env.json("approvals", "request", "--action", "self-serve", role="approver")
    own_id = own["approval"]["request_id"]
    selfish = env.ctl("approvals", "approve", own_id, role="approver")
    assert selfish.returncode == 1
    assert f"`alice` requested `{own_id}` and cannot decide it" in selfish.stderr
    rejected = env.ok("approvals", "reject", own_id, "--reason", "four eyes")  # the admin
    assert f"{own_id} rejected by" in rejected


def test_events_tail_shows_the_operator_commands(env: Env) -> None:
    out = env.ok("events", "tail", "--type", "risk.SetTradingState", "-n", "50", role="viewer")
    lines = out.splitlines()
    assert any("operator:otto" in ln and "state=HALTED" in ln for ln in lines), out
    assert any("state=ACTIVE" in ln and "reason=all clear" in ln for ln in lines), out
    assert all("risk.SetTradingState" in ln for ln in lines)

    last = env.ok("events", "tail", "-n", "3")
    assert len(last.splitlines()) == 3

    jsonl = env.ok("--json", "events", "tail", "--type", "risk.SetTradingState")
    events = [json.loads(ln) for ln in jsonl.splitlines()]
    assert events and all(e["msg"]["type"] == "risk.SetTradingState" for e in events)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)

    corr = events[0]["corr"]
    by_corr = env.ok("--json", "events", "tail", "--corr", corr)
    tags = {json.loads(ln)["msg"]["type"] for ln in by_corr.splitlines()}
    assert {"risk.SetTradingState", "kernel.TradingStateChanged"} <= tags

    audit = env.ok("audit", role="viewer")
    assert "otto" in audit and "ctl test halt" in audit and "risk.SetTradingState" in audit
    entries = env.json("audit")["entries"]
    assert isinstance(entries, list)
    assert {"otto", "alice"} <= {e["who"] for e in entries}


def test_events_follow_streams_until_interrupted(env: Env) -> None:
    cmd = [
        sys.executable,
        "-m",
        "runtime",
        "--config",
        str(env.config),
        "--data-dir",
        str(env.data),
        "ctl",
        "--token",
        env.tokens["viewer"],
        "events",
        "tail",
        "--follow",
        "-n",
        "0",
        "--type",
        "kernel.TradingStateChanged",
    ]
    follower = subprocess.Popen(
        cmd, cwd=REPO, env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.5)  # let it connect: the stream shows what happens after it opened
        scope = ("--scope", "strategy", "--target", "mm-1")
        env.ok("kill", *scope, "--reason", "live", role="operator")
        env.ok("resume", *scope, "--reason", "ok")
        time.sleep(1.0)
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=15)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, err
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 2, out
    assert "state=HALTED" in lines[0] and "target=mm-1" in lines[0]
    assert "state=ACTIVE" in lines[1]


def test_stream_end_is_reported(env: Env) -> None:
    """Last: stopping the daemon ends a follower with a line and exit 1."""
    cmd = [
        sys.executable,
        "-m",
        "runtime",
        "--config",
        str(env.config),
        "--data-dir",
        str(env.data),
        "ctl",
        "events",
        "tail",
        "-f",
        "-n",
        "1",
        "--type",
        "risk.SetTradingState",
    ]
    follower = subprocess.Popen(
        cmd, cwd=REPO, env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.5)
        assert env.daemon.stop() == 0
        out, err = follower.communicate(timeout=20)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 1, (out, err)
    assert err.strip() == "kinetic ctl: the daemon closed the event stream", err
    assert len(out.splitlines()) == 1  # the one past event asked for
    after = env.ctl("status")
    assert after.returncode == 1
    assert "is `kinetic run` running?" in after.stderr
