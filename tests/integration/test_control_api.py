"""The control API, black-box: a `kinetic run` subprocess, real HTTP, real tokens (issue #3).

One daemon serves most tests of this module (they run in file order: the kill comes late, and the
last test stops the daemon and replays its run). The restart tests run daemons of their own.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime._tokens import TokenStore
from tests.integration.daemon import Daemon, kinetic

CONFIRM = "I understand this enables live trading"
CREDENTIALS = {"EXCHANGE_API_KEY": "test-key", "EXCHANGE_API_SECRET": "test-secret"}
ROLES = {"viewer": "vera", "operator": "otto", "approver": "alice", "approver2": "bob"}


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(
    path: Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    allow_remote: bool = False,
    timeout_secs: float = 1.5,
    risk: bool = True,
) -> Path:
    """Write a daemon config: the risk gate, devices, an order spammer and two approval waiters."""
    # Without a gate, a plain actor takes its place (nothing answers `SetTradingState`).
    gate = (
        'name = "risk"\nkind = "risk_gate"\nrole = "risk"'
        if risk
        else 'name = "idle"\nkind = "device_registry"'
    )

    path.write_text(
        f"""
mode = "paper"
seed = 3

[journal]
flush_interval_ms = 2.0
snapshot_every = 5000

[control_api]
host = "{host}"
port = {port}
allow_remote = {"true" if allow_remote else "false"}

[[agents]]
{gate}

[[agents]]
name = "devices"
kind = "device_registry"
role = "devices"

[[agents]]
name = "spammer"
kind = "tests.integration.control_actors:OrderSpammer"
params = {{ interval_ms = 5 }}

[[agents]]
name = "waiter"
kind = "tests.integration.control_actors:ApprovalWaiter"
params = {{ request_id = "flow-1", timeout_secs = 3600.0 }}

[[agents]]
name = "hasty"
kind = "tests.integration.control_actors:ApprovalWaiter"
params = {{ request_id = "flow-t", timeout_secs = {timeout_secs} }}
"""
    )
    return path


class Api:
    """Talk to one daemon's control API as each role."""

    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url = url
        self.tokens = tokens
        self._clients: dict[str | None, httpx.Client] = {}

    def as_(self, role: str | None) -> httpx.Client:
        """Return a client sending `role`'s token (none for None)."""
        client = self._clients.get(role)
        if client is None:
            headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
            client = httpx.Client(base_url=self.url, headers=headers, timeout=15)
            self._clients[role] = client
        return client

    def events(self, *types: str, after: int = 0, corr: str | None = None) -> list[dict[str, Any]]:
        """Return every durable event of `types` after `after`, paging through `/events`."""
        out: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"after": after, "limit": 1000, "type": list(types)}
            if corr is not None:
                params["corr"] = corr
            r = self.as_("viewer").get("/events", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            out += page["events"]
            if len(page["events"]) < 1000:
                return out
            after = page["next_after"]

    def close(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            client.close()


def make_tokens(data: Path) -> dict[str, str]:
    """Create a token per role (the daemon adds the admin one at start)."""
    store = TokenStore(data)
    return {role: store.create(role.rstrip("2"), name=name) for role, name in ROLES.items()}


def start(config: Path, data: Path, tokens: dict[str, str], **env: str) -> tuple[Daemon, Api]:
    """Start a daemon and wait until its control API listens."""
    d = Daemon(config, data, env=env or None)
    ready = d.wait_for("runtime_ready", timeout=60)
    tokens = {**tokens, "admin": (data / "control.token").read_text().strip()}
    return d, Api(ready["control_api"], tokens)


def eventually(check: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    """Return `check()` once it is truthy; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"condition not met within {timeout} s: {value!r}"
            return value
        time.sleep(0.05)


class Live:
    """The module's daemon and how to reach it."""

    def __init__(self, daemon: Daemon, api: Api, data: Path, run_id: str) -> None:
        self.daemon = daemon
        self.api = api
        self.data = data
        self.run_id = run_id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("control")
    data = tmp / "var"
    data.mkdir()
    tokens = make_tokens(data)
    config = write_config(tmp / "daemon.toml", port=free_port())
    d, api = start(config, data, tokens)
    try:
        yield Live(d, api, data, d.wait_for("runtime_started")["run_id"])
    finally:
        api.close()
        if d.proc.poll() is None:
            d.stop()


# -- auth ------------------------------------------------------------------------------------

GUARDED = [
    ("GET", "/status"),
    ("GET", "/metrics"),
    ("GET", "/trading-state"),
    ("GET", "/guard"),
    ("GET", "/quarantine"),
    ("GET", "/approvals"),
    ("GET", "/events"),
    ("GET", "/events/stream"),
    ("GET", "/audit"),
    ("POST", "/kill"),
    ("POST", "/reduce"),
    ("POST", "/resume"),
    ("PUT", "/guard"),
    ("POST", "/devices/d1/quarantine"),
    ("DELETE", "/devices/d1/quarantine"),
    ("POST", "/approvals"),
    ("POST", "/approvals/x/approve"),
    ("POST", "/approvals/x/reject"),
]


def test_health_schema_and_docs_need_no_token(live: Live) -> None:
    anon = live.api.as_(None)
    assert anon.get("/health").json() == {"status": "ok"}
    schema = anon.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    assert {p for _, p in GUARDED if "d1" not in p and "/x/" not in p} <= paths
    assert "/approvals/{request_id}/approve" in paths
    assert "/devices/{device_id}/quarantine" in paths
    page = anon.get("/docs").text
    assert "swagger-ui" in page and "Kinetic control API" in page
    assert schema["paths"]["/health"]["get"]["security"] == []


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_every_endpoint_but_health_needs_a_bearer_token(live: Live, method: str, path: str) -> None:
    anon = live.api.as_(None)
    r = anon.request(method, path, json={"reason": "x"})
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "bearer token" in r.json()["error"]
    r = anon.request(method, path, headers={"Authorization": "Bearer kin_nope"}, json={})
    assert r.status_code == 401 and r.json() == {"error": "invalid bearer token"}


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("viewer", "POST", "/kill", {"reason": "x"}),
        ("viewer", "PUT", "/guard", {"paper_only": True, "reason": "x"}),
        ("viewer", "POST", "/devices/d1/quarantine", {"reason": "x"}),
        ("viewer", "POST", "/approvals", {"action": "x"}),
        ("approver", "POST", "/kill", {"reason": "x"}),
        ("approver", "POST", "/reduce", {"reason": "x"}),
        ("operator", "POST", "/resume", {"reason": "x"}),
        ("operator", "DELETE", "/devices/d1/quarantine?reason=x", None),
        ("operator", "POST", "/approvals/x/approve", {"reason": "x"}),
        ("operator", "POST", "/approvals/x/reject", {"reason": "x"}),
        ("operator", "PUT", "/guard", {"paper_only": False, "reason": "x", "confirm": CONFIRM}),
    ],
)
def test_roles_are_enforced(live: Live, role: str, method: str, path: str, body: Any) -> None:
    r = live.api.as_(role).request(method, path, json=body)
    assert r.status_code == 403, r.text
    assert r.json()["error"].startswith(f"role `{role}` may not")


def test_a_viewer_reads_everything(live: Live) -> None:
    viewer = live.api.as_("viewer")
    for path in (
        "/status",
        "/metrics",
        "/trading-state",
        "/guard",
        "/quarantine",
        "/approvals",
        "/events",
        "/audit",
    ):
        assert viewer.get(path).status_code == 200, path


# -- validation ------------------------------------------------------------------------------


def test_bad_input_is_400_with_msgspecs_message(live: Live) -> None:
    op = live.api.as_("operator")
    cases = [
        (op.post("/kill", json={"reason": 5}), "Expected `str`, got `int` - at `$.reason`"),
        (
            op.post("/kill", json={"reason": "x", "scop": "global"}),
            "Object contains unknown field `scop` - at `$`",
        ),
        (
            op.post("/kill", json={"reason": "x", "scope": "galaxy"}),
            "Invalid enum value 'galaxy' - at `$.scope`",
        ),
        (
            op.post("/kill", content=b"{", headers={"content-type": "application/json"}),
            "Input data was truncated",
        ),
        (
            op.post("/kill", json={"reason": "x", "scope": "venue"}),
            "`target` is required for scope `venue`",
        ),
        (op.get("/events", params={"limit": 5000}), "Expected `int` <= 1000 - at `$.limit`"),
        (op.get("/events", params={"after": "x"}), "Expected `int`, got `str` - at `$.after`"),
        (
            op.get("/events", params={"type": "no.Such"}),
            "unknown message type `no.Such` - at `$.type`",
        ),
        (
            op.get("/approvals", params={"state": "maybe"}),
            "Invalid enum value 'maybe' - at `$.state`",
        ),
    ]
    for r, message in cases:
        assert r.status_code == 400, (r.request.url, r.text)
        assert r.json() == {"error": message}
    r = op.get("/nowhere")
    assert r.status_code == 404 and r.json() == {"error": "no such route"}


# -- status and metrics ----------------------------------------------------------------------


def test_status_reports_actors_controls_and_the_journal(live: Live) -> None:
    viewer = live.api.as_("viewer")

    def spamming() -> dict[str, Any] | None:
        st = viewer.get("/status").json()
        return st if st["actors"]["spammer"]["handled_per_sec"] > 0 else None

    st = eventually(spamming)
    assert st["run_id"] == live.run_id and st["mode"] == "paper" and st["store"] == "sqlite"
    assert st["uptime_secs"] > 0 and st["seq"] >= st["durable_seq"] > 0 and len(st["head"]) == 64
    assert set(st["actors"]) == {"risk", "devices", "spammer", "waiter", "hasty", "approvals"}
    risk = st["actors"]["risk"]
    assert risk["handled"] > 0 and risk["capacity"] == 1024 and risk["failures"] == 0
    assert {"depth", "high_water", "dropped", "restarts", "received"} <= set(risk)
    assert risk["state"] in {"idle", "busy", "waiting"}
    assert st["trading"] == {"global_state": "ACTIVE", "scopes": []}
    assert st["paper_only"] is True and st["quarantined"] == 0


def test_metrics_are_prometheus_text(live: Live) -> None:
    r = live.api.as_("viewer").get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for line in (
        "# TYPE kinetic_actor_handled_total counter",
        'kinetic_mailbox_depth{actor="risk"}',
        'kinetic_actor_restarts_total{actor="spammer"}',
        'kinetic_mailbox_dropped_total{actor="risk"}',
        "kinetic_journal_seq ",
        "kinetic_paper_only 1.0",
    ):
        assert line in text, line


# -- quarantine ------------------------------------------------------------------------------


def test_quarantine_and_release_are_idempotent_commands(live: Live) -> None:
    op, admin = live.api.as_("operator"), live.api.as_("admin")
    r = op.post("/devices/cam-7/quarantine", json={"reason": "tampered"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["changed"] and body["quarantined"] and body["device_id"] == "cam-7"
    assert body["event"]["msg"] == {
        "type": "devices.DeviceQuarantined",
        "device_id": "cam-7",
        "reason": "tampered",
        "by": "otto",
    }
    again = op.post("/devices/cam-7/quarantine", json={"reason": "still"}).json()
    assert not again["changed"] and again["quarantined"] and again["event"] is None
    listed = live.api.as_("viewer").get("/quarantine").json()
    assert listed["count"] == 1 and listed["devices"][0]["device_id"] == "cam-7"
    assert live.api.as_("viewer").get("/status").json()["quarantined"] == 1

    assert admin.delete("/devices/cam-7/quarantine").status_code == 400
    r = admin.delete("/devices/cam-7/quarantine", params={"reason": "inspected"})
    assert r.status_code == 200 and r.json()["changed"] and not r.json()["quarantined"]
    r = admin.request("DELETE", "/devices/cam-7/quarantine", json={"reason": "twice"})
    assert r.status_code == 200 and not r.json()["changed"]
    assert live.api.as_("viewer").get("/quarantine").json() == {"count": 0, "devices": []}


# -- the paper-only guard --------------------------------------------------------------------


def test_guard_goes_on_freely_and_never_off_without_credentials(live: Live) -> None:
    viewer, op, admin = (live.api.as_(r) for r in ("viewer", "operator", "admin"))
    guard = viewer.get("/guard").json()
    assert guard["paper_only"] is True and guard["credentials_present"] is False
    r = op.put("/guard", json={"paper_only": True, "reason": "belt and braces"})
    assert r.status_code == 200, r.text
    assert r.json()["event"]["msg"]["type"] == "risk.PaperGuardChanged"
    assert viewer.get("/guard").json()["by"] == "otto"
    r = admin.put("/guard", json={"paper_only": False, "reason": "go live", "confirm": CONFIRM})
    assert r.status_code == 409
    assert "`EXCHANGE_API_KEY`" in r.json()["error"] and "confirm" not in r.json()["error"]
    r = admin.put("/guard", json={"paper_only": False, "reason": "go live"})
    assert r.status_code == 409 and "`confirm`" in r.json()["error"]
    assert viewer.get("/guard").json()["paper_only"] is True


# -- approvals -------------------------------------------------------------------------------


def test_an_approver_cannot_approve_their_own_request(live: Live) -> None:
    alice, bob = live.api.as_("approver"), live.api.as_("approver2")
    r = alice.post(
        "/approvals", json={"action": "withdraw", "detail": "10 BTC", "timeout_secs": 600}
    )
    assert r.status_code == 201, r.text
    created = r.json()
    rid = created["approval"]["request_id"]
    assert (
        created["approval"]["state"] == "pending" and created["approval"]["requested_by"] == "alice"
    )
    assert created["event"]["msg"]["type"] == "approvals.ApprovalRequested"

    r = alice.post(f"/approvals/{rid}/approve", json={"reason": "looks fine to me"})
    assert (
        r.status_code == 403
        and r.json()["error"] == f"`alice` requested `{rid}` and cannot decide it"
    )
    r = bob.post(f"/approvals/{rid}/approve", json={"reason": "checked"})
    assert r.status_code == 200, r.text
    assert r.json()["event"]["msg"]["type"] == "approvals.ApprovalGranted"
    assert (
        r.json()["approval"]["state"] == "approved" and r.json()["approval"]["decided_by"] == "bob"
    )
    r = bob.post(f"/approvals/{rid}/reject", json={"reason": "changed my mind"})
    assert r.status_code == 409 and "already decided" in r.json()["error"]
    r = bob.post("/approvals/req-none/approve", json={"reason": "?"})
    assert r.status_code == 404 and r.json()["error"] == "request `req-none` is unknown"

    r = live.api.as_("operator").post("/approvals", json={"action": "payout"})
    rid2 = r.json()["approval"]["request_id"]
    r = alice.post(f"/approvals/{rid2}/reject", json={"reason": "no beneficiary"})
    assert r.status_code == 200 and r.json()["approval"]["state"] == "rejected"

    viewer = live.api.as_("viewer")
    approved = viewer.get("/approvals", params={"state": "approved"}).json()["approvals"]
    assert [a["request_id"] for a in approved] == [rid]
    every = {
        a["request_id"]
        for a in viewer.get("/approvals", params={"state": "all"}).json()["approvals"]
    }
    assert {rid, rid2, "flow-1"} <= every
    pending = viewer.get("/approvals").json()["approvals"]
    assert "flow-1" in {a["request_id"] for a in pending} and rid not in {
        a["request_id"] for a in pending
    }


def test_an_approval_timeout_rejects_deterministically(live: Live) -> None:
    viewer = live.api.as_("viewer")

    def rejected() -> dict[str, Any] | None:
        listed = viewer.get("/approvals", params={"state": "rejected"}).json()["approvals"]
        return next((a for a in listed if a["request_id"] == "flow-t"), None)

    flow = eventually(rejected)
    assert flow["decided_by"] == "kernel" and flow["reason"] == "timed out"
    abandoned = eventually(lambda: live.api.events("test.FlowAbandoned"))
    assert [e["msg"] for e in abandoned] == [
        {"type": "test.FlowAbandoned", "request_id": "flow-t", "by": "kernel"}
    ]
    assert live.api.events("test.FlowResumed") == []


# -- events, stream, audit -------------------------------------------------------------------


def test_events_page_and_filter_by_type_and_corr(live: Live) -> None:
    viewer = live.api.as_("viewer")
    first = viewer.get("/events", params={"limit": 3}).json()
    assert [e["seq"] for e in first["events"]] == [1, 2, 3] and first["next_after"] == 3
    assert (
        first["events"][0]["kind"] == "in" and first["events"][0]["msg"]["type"] == "kernel.Start"
    )
    nxt = viewer.get("/events", params={"limit": 2, "after": 3}).json()
    assert [e["seq"] for e in nxt["events"]] == [4, 5]
    denied_or_ok = viewer.get(
        "/events", params={"type": ["risk.OrderApproved", "risk.OrderIntent"], "limit": 50}
    ).json()["events"]
    assert {e["msg"]["type"] for e in denied_or_ok} == {"risk.OrderApproved", "risk.OrderIntent"}
    r = live.api.as_("operator").post("/devices/bulb-1/quarantine", json={"reason": "flicker"})
    corr = r.json()["corr"]
    by_corr = eventually(
        lambda: live.api.events(corr=corr) if len(live.api.events(corr=corr)) == 2 else None
    )
    assert [e["msg"]["type"] for e in by_corr] == [
        "devices.QuarantineDevice",
        "devices.DeviceQuarantined",
    ]
    assert (
        by_corr[0]["src"] == "operator:otto" and by_corr[0]["inp"] and by_corr[1]["kind"] == "out"
    )


def test_event_stream_sends_one_json_data_line_per_envelope(live: Live) -> None:
    viewer = live.api.as_("viewer")
    with viewer.stream("GET", "/events/stream", params={"type": "devices.DeviceQuarantined"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        assert next(lines).startswith(":")  # the stream's opening comment: it is live
        live.api.as_("operator").post("/devices/plug-9/quarantine", json={"reason": "overheats"})
        data = next(line for line in lines if line.startswith("data: "))
    env = json.loads(data.removeprefix("data: "))
    assert env["msg"] == {
        "type": "devices.DeviceQuarantined",
        "device_id": "plug-9",
        "reason": "overheats",
        "by": "otto",
    }
    assert env["src"] == "devices" and env["kind"] == "out" and env["seq"] > 0


def test_audit_lists_every_operator_command(live: Live) -> None:
    def audited() -> list[dict[str, Any]] | None:
        entries = live.api.as_("viewer").get("/audit", params={"limit": 1000}).json()["entries"]
        return entries if any(e["what"] == "devices.ReleaseDevice" for e in entries) else None

    entries = eventually(audited)
    assert all(e["who"] and e["what"] for e in entries)
    quarantine = next(e for e in entries if e["msg"].get("device_id") == "cam-7")
    assert quarantine["who"] == "otto" and quarantine["what"] == "devices.QuarantineDevice"
    assert (
        quarantine["why"] == "tampered"
        and quarantine["ts"] > 0
        and quarantine["corr"].startswith("op-")
    )
    whats = {e["what"] for e in entries}
    assert {"risk.SetPaperGuard", "approvals.RequestApproval", "approvals.Approve"} <= whats


# -- trading states and the kill switch ------------------------------------------------------


def test_reduce_then_resume_needs_admin(live: Live) -> None:
    op, admin, viewer = (live.api.as_(r) for r in ("operator", "admin", "viewer"))
    r = op.post("/reduce", json={"scope": "strategy", "target": "other", "reason": "drawdown"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["event"]["msg"]["state"] == "REDUCING" and body["cancel_seq"] is None
    assert body["state_seq"] > body["command_seq"]
    states = viewer.get("/trading-state").json()
    assert states["global_state"] == "ACTIVE"
    assert [(s["scope"], s["target"], s["state"], s["by"]) for s in states["scopes"]] == [
        ("strategy", "other", "REDUCING", "otto")
    ]
    assert (
        op.post(
            "/resume", json={"scope": "strategy", "target": "other", "reason": "ok"}
        ).status_code
        == 403
    )
    r = admin.post("/resume", json={"scope": "strategy", "target": "other", "reason": "recovered"})
    assert r.status_code == 200 and r.json()["event"]["msg"]["state"] == "ACTIVE"
    assert viewer.get("/trading-state").json()["scopes"] == []


def assert_halted(api: Api, halted_seq: int, *, since: int) -> None:
    """Check that no order passed after `halted_seq` and later intents are denied HALTED."""
    assert api.events("risk.OrderApproved", after=halted_seq) == []
    denied = eventually(lambda: api.events("risk.OrderDenied", after=since))
    assert {e["msg"]["code"] for e in denied} == {"HALTED"}


def test_kill_stops_every_order_and_cancels_the_open_ones(live: Live) -> None:
    api = live.api
    r = api.as_("operator").post("/kill", json={"scope": "global", "reason": "venue outage"})
    assert r.status_code == 200, r.text
    body = r.json()
    halted = body["state_seq"]
    assert body["event"]["msg"] == {
        "type": "kernel.TradingStateChanged",
        "scope": "global",
        "target": "*",
        "state": "HALTED",
        "reason": "venue outage",
        "by": "otto",
    }
    assert body["command_seq"] < halted < body["cancel_seq"]
    time.sleep(0.3)  # let the spammer submit more
    assert_halted(api, halted, since=halted)
    approved = {e["msg"]["intent"]["client_id"] for e in api.events("risk.OrderApproved")}
    assert len(approved) > 10

    def cancelled() -> set[str] | None:
        got = {e["msg"]["client_id"] for e in api.events("test.CancelRequested")}
        return got if got == approved else None

    eventually(cancelled)
    cancels = api.events("test.CancelRequested")
    assert len(cancels) == len(approved) and min(e["seq"] for e in cancels) > body["cancel_seq"]
    states = api.as_("viewer").get("/trading-state").json()
    assert states["global_state"] == "HALTED" and states["scopes"][0]["by"] == "otto"


def test_the_run_with_operator_commands_replays_and_verifies(live: Live) -> None:
    assert live.daemon.stop() == 0
    proc = kinetic("replay", live.run_id, "--verify", data_dir=live.data)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- restarts --------------------------------------------------------------------------------


def test_halted_and_an_approval_wait_survive_restarts(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    tokens = make_tokens(data)
    config = write_config(tmp_path / "daemon.toml", port=free_port())
    d, api = start(config, data, tokens)
    run_id = d.wait_for("runtime_started")["run_id"]
    try:
        eventually(
            lambda: (
                "flow-1"
                in {
                    a["request_id"] for a in api.as_("viewer").get("/approvals").json()["approvals"]
                }
            )
        )
        r = api.as_("operator").post("/kill", json={"reason": "before restart"})
        assert r.status_code == 200, r.text
        halted = r.json()["state_seq"]
        r = api.as_("admin").put(
            "/guard", json={"paper_only": False, "reason": "x", "confirm": CONFIRM}
        )
        assert r.status_code == 409  # no credentials in this daemon's environment
    finally:
        api.close()
        assert d.stop() == 0

    # Second life, now with exchange credentials in the environment.
    d, api = start(config, data, tokens, **CREDENTIALS)
    try:
        assert d.wait_for("runtime_started")["run_id"] == run_id
        restarted = api.as_("viewer").get("/status").json()["seq"]
        states = api.as_("viewer").get("/trading-state").json()
        assert (
            states["global_state"] == "HALTED" and states["scopes"][0]["reason"] == "before restart"
        )
        assert_halted(api, halted, since=restarted)
        pending = api.as_("viewer").get("/approvals").json()["approvals"]
        assert "flow-1" in {a["request_id"] for a in pending}
        r = api.as_("approver").post("/approvals/flow-1/approve", json={"reason": "after restart"})
        assert r.status_code == 200, r.text
        assert [
            e["msg"]["request_id"] for e in eventually(lambda: api.events("test.FlowResumed"))
        ] == ["flow-1"]
        r = api.as_("admin").put(
            "/guard", json={"paper_only": False, "reason": "live drill", "confirm": "yes"}
        )
        assert r.status_code == 409 and "`confirm`" in r.json()["error"]
        r = api.as_("admin").put(
            "/guard", json={"paper_only": False, "reason": "live drill", "confirm": CONFIRM}
        )
        assert r.status_code == 200, r.text
        assert r.json()["guard"]["paper_only"] is False and r.json()["guard"]["credentials_present"]
        r = api.as_("operator").put("/guard", json={"paper_only": True, "reason": "back to paper"})
        assert r.status_code == 200 and r.json()["guard"]["paper_only"] is True
    finally:
        api.close()
        assert d.stop() == 0

    # Third life: the flow resumed once and stays resumed; recovery re-emits nothing.
    d, api = start(config, data, tokens)
    try:
        time.sleep(0.3)
        assert len(api.events("test.FlowResumed")) == 1
        approvals = api.as_("viewer").get("/approvals", params={"state": "approved"}).json()
        assert [a["request_id"] for a in approvals["approvals"]] == ["flow-1"]
        assert api.as_("viewer").get("/guard").json()["paper_only"] is True
    finally:
        api.close()
        assert d.stop() == 0
    proc = kinetic("replay", run_id, "--verify", data_dir=data)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- binding ---------------------------------------------------------------------------------


def test_a_non_loopback_bind_is_refused_without_the_flag(tmp_path: Path) -> None:
    config = write_config(tmp_path / "remote.toml", port=free_port(), host="0.0.0.0")
    proc = kinetic("--config", str(config), "run", data_dir=tmp_path / "var", timeout=60)
    assert proc.returncode == 2
    assert "`host`" in proc.stderr and "allow_remote" in proc.stderr


def test_allow_remote_binds_warns_and_a_kill_without_a_risk_gate_is_503(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path / "remote.toml", port=port, host="0.0.0.0", allow_remote=True, risk=False
    )
    d = Daemon(config, tmp_path / "var")
    try:
        warning = d.wait_for("control_api_remote_bind", timeout=60)
        assert warning["level"] == "warning" and warning["host"] == "0.0.0.0"
        d.wait_for("runtime_ready")
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/health", timeout=10).json() == {"status": "ok"}
        token = (tmp_path / "var" / "control.token").read_text().strip()
        r = httpx.post(
            f"{url}/kill", json={"reason": "drill"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 503
        assert r.json() == {
            "error": "no actor handles `risk.SetTradingState`; is its agent configured?"
        }
    finally:
        assert d.stop() == 0
