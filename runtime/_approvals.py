"""Hold approval requests until an approver decides or the wait times out: a kernel service.

An agent sends `RequestApproval` to the desk (actor name `approvals`) and goes on handling other
messages; the desk publishes `ApprovalGranted` or `ApprovalRejected` once (the requester
subscribes and matches its `request_id`). Because the desk is an ordinary deterministic actor, a
pending request and its timeout timer are part of its state: they survive a restart (snapshot +
journal), the timeout fires on the kernel clock (so replay rejects at the same seq), and a
decision is applied exactly once. The requester can never approve their own request; the desk
checks, not only the API.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from runtime._actor import Actor
from runtime._kernel_messages import TimerFired
from runtime._message import Message

DESK = "approvals"
"""The actor name the daemon gives the desk; agents send `RequestApproval` there."""


class RequestApproval(Message, frozen=True, kw_only=True, tag="approvals.RequestApproval"):
    """Ask for a decision; idempotent by `request_id`."""

    request_id: str
    action: str
    detail: str = ""
    requested_by: str
    """Who initiated the flow (a person or token name), the one who may not approve it."""
    timeout_secs: float = 3600.0


class Approve(Message, frozen=True, kw_only=True, tag="approvals.Approve"):
    """An approver's yes (an operator input)."""

    request_id: str
    by: str
    reason: str = ""


class Reject(Message, frozen=True, kw_only=True, tag="approvals.Reject"):
    """An approver's no (an operator input)."""

    request_id: str
    by: str
    reason: str


class ApprovalRequested(Message, frozen=True, kw_only=True, tag="approvals.ApprovalRequested"):
    """Announce a pending request."""

    request_id: str
    action: str
    detail: str
    requested_by: str
    requester: str
    """The actor (or operator source) that sent the request and receives the decision."""
    expires_ns: int


class ApprovalGranted(Message, frozen=True, kw_only=True, tag="approvals.ApprovalGranted"):
    """Announce that a request was approved; sent once."""

    request_id: str
    by: str
    reason: str


class ApprovalRejected(Message, frozen=True, kw_only=True, tag="approvals.ApprovalRejected"):
    """Announce that a request was rejected, by an approver or by its timeout; sent once."""

    request_id: str
    by: str
    reason: str


class ApprovalRefused(Message, frozen=True, kw_only=True, tag="approvals.ApprovalRefused"):
    """Refuse a decision that may not be taken (own request, unknown, already decided)."""

    request_id: str
    by: str
    code: Literal["own_request", "unknown_request", "already_decided"]
    detail: str


class Pending(msgspec.Struct, kw_only=True):
    """A request waiting for a decision, with its timeout timer."""

    action: str
    detail: str
    requested_by: str
    requester: str
    expires_ns: int
    timer_id: int


class Decided(msgspec.Struct, kw_only=True):
    """How a request ended."""

    outcome: Literal["approved", "rejected"]
    by: str
    reason: str


class DeskState(msgspec.Struct, kw_only=True):
    """Pending and decided requests by id."""

    pending: dict[str, Pending] = msgspec.field(default_factory=dict)
    decided: dict[str, Decided] = msgspec.field(default_factory=dict)


class ApprovalDesk(Actor):
    """Keep approval requests and resolve each exactly once."""

    def __init__(self) -> None:
        self.state = DeskState()

    def on_start(self) -> None:
        self.ctx.subscribe(RequestApproval)
        self.ctx.subscribe(Approve)
        self.ctx.subscribe(Reject)

    def on_request(self, msg: RequestApproval) -> None:
        st = self.state
        if msg.request_id in st.pending or msg.request_id in st.decided:
            return  # idempotent: a retried request changes nothing
        env = self.ctx.current
        requester = env.src if env is not None else ""
        delay = max(0, round(msg.timeout_secs * 1e9))
        timer_id = self.ctx.schedule(delay, key=msg.request_id)
        expires = self.ctx.now + delay
        st.pending[msg.request_id] = Pending(
            action=msg.action,
            detail=msg.detail,
            requested_by=msg.requested_by,
            requester=requester,
            expires_ns=expires,
            timer_id=timer_id,
        )
        self.ctx.publish(
            ApprovalRequested(
                request_id=msg.request_id,
                action=msg.action,
                detail=msg.detail,
                requested_by=msg.requested_by,
                requester=requester,
                expires_ns=expires,
            )
        )

    def on_approve(self, msg: Approve) -> None:
        if self._decidable(msg.request_id, msg.by):
            self._decide(msg.request_id, "approved", msg.by, msg.reason)

    def on_reject(self, msg: Reject) -> None:
        if self._decidable(msg.request_id, msg.by):
            self._decide(msg.request_id, "rejected", msg.by, msg.reason)

    def on_timer(self, msg: TimerFired) -> None:
        p = self.state.pending.get(msg.key)
        if p is not None and p.timer_id == msg.timer_id:
            self._decide(msg.key, "rejected", "kernel", "timed out")

    def _decidable(self, request_id: str, by: str) -> bool:
        st = self.state
        p = st.pending.get(request_id)
        if p is None:
            done = request_id in st.decided
            self.ctx.publish(
                ApprovalRefused(
                    request_id=request_id,
                    by=by,
                    code="already_decided" if done else "unknown_request",
                    detail=f"request `{request_id}` is {'already decided' if done else 'unknown'}",
                )
            )
            return False
        if p.requested_by == by:
            self.ctx.publish(
                ApprovalRefused(
                    request_id=request_id,
                    by=by,
                    code="own_request",
                    detail=f"`{by}` requested `{request_id}` and cannot decide it",
                )
            )
            return False
        return True

    def _decide(
        self, request_id: str, outcome: Literal["approved", "rejected"], by: str, reason: str
    ) -> None:
        st = self.state
        p = st.pending.pop(request_id)
        self.ctx.cancel(p.timer_id)
        st.decided[request_id] = Decided(outcome=outcome, by=by, reason=reason)
        result: Message
        if outcome == "approved":
            result = ApprovalGranted(request_id=request_id, by=by, reason=reason)
        else:
            result = ApprovalRejected(request_id=request_id, by=by, reason=reason)
        self.ctx.publish(result)  # requesters subscribe and match their request ids
