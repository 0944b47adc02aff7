"""The approvals desk: decided once, never by the requester, timeouts deterministic and durable."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import ActorSpec, Journal, MemoryStore, RunInfo, SimKernel
from runtime._app import ListSink
from runtime._approvals import (
    ApprovalDesk,
    ApprovalGranted,
    ApprovalRefused,
    ApprovalRejected,
    ApprovalRequested,
    Approve,
    Reject,
    RequestApproval,
)
from runtime._recovery import recover
from runtime.testing import Recorder, RecorderConfig

SEC = 1_000_000_000
TAGS = [
    "approvals.ApprovalRequested",
    "approvals.ApprovalGranted",
    "approvals.ApprovalRejected",
    "approvals.ApprovalRefused",
]


def desk(**kw: Any) -> tuple[SimKernel, Recorder]:
    k = SimKernel(**kw)
    k.add_actor(ActorSpec("approvals", ApprovalDesk))
    rec = Recorder(RecorderConfig(tags=TAGS))
    k.add_actor(ActorSpec("rec", lambda: rec))
    k.start()
    return k, rec


def names(rec: Recorder) -> list[str]:
    return [type(m).__name__ for m in rec.messages]


def test_an_approval_resolves_once_and_never_by_its_requester() -> None:
    k, rec = desk()
    k.emit_input("ramp", RequestApproval(request_id="r1", action="offramp", requested_by="ana"))
    k.emit_input("ramp", RequestApproval(request_id="r1", action="offramp", requested_by="ana"))
    k.emit_input("operator:ana", Approve(request_id="r1", by="ana"))
    k.emit_input("operator:bob", Approve(request_id="r1", by="bob", reason="ok"))
    k.emit_input("operator:cy", Reject(request_id="r1", by="cy", reason="late"))
    k.emit_input("operator:cy", Approve(request_id="nope", by="cy"))
    k.run()
    assert names(rec) == [
        "ApprovalRequested",
        "ApprovalRefused",
        "ApprovalGranted",
        "ApprovalRefused",
        "ApprovalRefused",
    ]
    codes = [m.code for m in rec.messages if isinstance(m, ApprovalRefused)]
    assert codes == ["own_request", "already_decided", "unknown_request"]
    granted = rec.messages[2]
    assert isinstance(granted, ApprovalGranted)
    assert granted.by == "bob"


def test_a_timeout_rejects_on_the_kernel_clock() -> None:
    k, rec = desk()
    k.emit_input(
        "ramp",
        RequestApproval(request_id="r2", action="payout", requested_by="ana", timeout_secs=30),
    )
    k.run(until_ns=29 * SEC)
    assert names(rec) == ["ApprovalRequested"]
    k.run(until_ns=31 * SEC)
    assert names(rec) == ["ApprovalRequested", "ApprovalRejected"]
    rejected = rec.messages[-1]
    assert isinstance(rejected, ApprovalRejected)
    assert (rejected.by, rejected.reason) == ("kernel", "timed out")
    requested = rec.messages[0]
    assert isinstance(requested, ApprovalRequested)
    assert requested.expires_ns == 30 * SEC


@pytest.mark.anyio
async def test_a_pending_wait_survives_a_restart_and_resolves_once() -> None:
    store = MemoryStore()
    await store.create_run(
        RunInfo(run_id="d", kernel="live", mode="paper", level="full", seed=0, config="{}")
    )
    sink = ListSink()
    k, _ = desk(journal=Journal(), sink=sink, run_id="d")
    k.emit_input(
        "ramp",
        RequestApproval(request_id="r3", action="offramp", requested_by="ana", timeout_secs=60),
    )
    k.run(until_ns=10 * SEC)
    k.flush()
    await store.append("d", sink.rows)
    # A new process: fresh actors, recovered from the journal; the timer is pending again.
    sink2 = ListSink()
    k2 = SimKernel(journal=Journal(), sink=sink2, run_id="d", start_ns=10 * SEC)
    k2.add_actor(ActorSpec("approvals", ApprovalDesk))
    rec2 = Recorder(RecorderConfig(tags=TAGS))
    k2.add_actor(ActorSpec("rec", lambda: rec2))
    await recover(k2, store, "d")
    desk2 = k2.actor("approvals")
    assert isinstance(desk2, ApprovalDesk)
    assert list(desk2.state.pending) == ["r3"]
    k2.emit_input("operator:bob", Approve(request_id="r3", by="bob"))
    k2.run(until_ns=120 * SEC)  # past the old timeout: it must not fire after the decision
    # Recovery redelivered the recorded request; then exactly one decision, and no timeout.
    assert names(rec2) == ["ApprovalRequested", "ApprovalGranted"]
