"""Test actors the control-API tests run inside a real daemon (kind `tests.integration...:Name`).

- `OrderSpammer` submits an `OrderIntent` through the risk gate every few ms, keeps the approved
  ones as open orders, and answers `CancelOpenOrders` with one `CancelRequested` per open order:
  a stand-in for strategy + execution, so a test can see that a kill stops orders and cancels.
- `ApprovalWaiter` asks the approvals desk for a decision at start and publishes `FlowResumed`
  once when granted: a flow that must survive a restart and resume exactly once.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.risk.messages import CancelOpenOrders, OrderApproved, OrderIntent
from runtime import Actor, ConfigBase, Message, TimerFired
from runtime._approvals import DESK, ApprovalGranted, ApprovalRejected, RequestApproval


class CancelRequested(Message, frozen=True, kw_only=True, tag="test.CancelRequested"):
    """Ask a venue to cancel one open order (what execution would send)."""

    client_id: str
    reason: str


class FlowResumed(Message, frozen=True, kw_only=True, tag="test.FlowResumed"):
    """Announce that a flow waiting on an approval went on."""

    request_id: str


class FlowAbandoned(Message, frozen=True, kw_only=True, tag="test.FlowAbandoned"):
    """Announce that a flow's approval was rejected (by a person or the timeout)."""

    request_id: str
    by: str


class OrderSpammerConfig(ConfigBase, frozen=True, kw_only=True):
    """How often to submit, and the order's scope."""

    interval_ms: int = 5
    strategy: str = "spam"
    venue: str = "sim"
    instrument: str = "BTC/USDT"


class OrderSpammerState(msgspec.Struct, kw_only=True):
    """Orders submitted, and the approved ones still open, by client id."""

    sent: int = 0
    open: list[str] = msgspec.field(default_factory=list)


class OrderSpammer(Actor):
    """Submit an order every `interval_ms`; cancel every open one when asked."""

    Params = OrderSpammerConfig

    def __init__(self, params: OrderSpammerConfig | None = None) -> None:
        self.params = params or OrderSpammerConfig()
        self.state = OrderSpammerState()

    def on_start(self) -> None:
        self.ctx.subscribe(OrderApproved)
        self.ctx.subscribe(CancelOpenOrders)
        self.ctx.schedule(self.params.interval_ms * 1_000_000, key="order", every=True)

    def on_timer(self, msg: TimerFired) -> None:
        st = self.state
        st.sent += 1
        p = self.params
        self.ctx.publish(
            OrderIntent(
                client_id=f"{self.ctx.name}-{st.sent}",
                strategy=p.strategy,
                venue=p.venue,
                instrument=p.instrument,
                side="buy",
                qty=Decimal("0.01"),
                price=Decimal("50000"),
            )
        )

    def on_approved(self, msg: OrderApproved) -> None:
        if msg.intent.strategy == self.params.strategy:
            self.state.open.append(msg.intent.client_id)

    def on_cancel_all(self, msg: CancelOpenOrders) -> None:
        # Invariant: each open order gets exactly one cancel request, then is no longer open.
        for client_id in self.state.open:
            self.ctx.publish(CancelRequested(client_id=client_id, reason=msg.reason))
        self.state.open.clear()


class ApprovalWaiterConfig(ConfigBase, frozen=True, kw_only=True):
    """Which request to make and how long it may wait."""

    request_id: str = "flow-1"
    timeout_secs: float = 3600.0


class ApprovalWaiterState(msgspec.Struct, kw_only=True):
    """Whether the flow went on, or was abandoned."""

    resumed: bool = False
    abandoned: bool = False


class ApprovalWaiter(Actor):
    """Ask for an approval at start; go on once when it is granted."""

    Params = ApprovalWaiterConfig

    def __init__(self, params: ApprovalWaiterConfig | None = None) -> None:
        self.params = params or ApprovalWaiterConfig()
        self.state = ApprovalWaiterState()

    def on_start(self) -> None:
        self.ctx.subscribe(ApprovalGranted)
        self.ctx.subscribe(ApprovalRejected)
        p = self.params
        self.ctx.send(
            DESK,
            RequestApproval(
                request_id=p.request_id,
                action="resume flow",
                detail=self.ctx.name,
                requested_by="waiter",
                timeout_secs=p.timeout_secs,
            ),
        )

    def on_granted(self, msg: ApprovalGranted) -> None:
        st = self.state
        if msg.request_id == self.params.request_id and not st.resumed and not st.abandoned:
            st.resumed = True
            self.ctx.publish(FlowResumed(request_id=msg.request_id))

    def on_rejected(self, msg: ApprovalRejected) -> None:
        st = self.state
        if msg.request_id == self.params.request_id and not st.resumed and not st.abandoned:
            st.abandoned = True
            self.ctx.publish(FlowAbandoned(request_id=msg.request_id, by=msg.by))
