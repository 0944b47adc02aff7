"""Wire the pre-trade gate: trading states, the paper-only guard, and a verdict for every order.

Issue #5 adds the remaining checks (leverage, exposure, price bands, throttles, drawdown tiers)
to this same gate; today it enforces the trading states. In REDUCING it lets through only orders
marked `reduce_only` (the position check arrives with the ledger).
"""

from __future__ import annotations

import msgspec

from agents.risk.messages import (
    CancelOpenOrders,
    OrderApproved,
    OrderDenied,
    OrderIntent,
    PaperGuardChanged,
    SetPaperGuard,
    SetTradingState,
)
from agents.risk.states import TradingStates
from runtime import Actor, ConfigBase, TradingScope, TradingState, TradingStateChanged


class RiskGateConfig(ConfigBase, frozen=True, kw_only=True):
    """Parameters of the pre-trade gate."""

    paper_only: bool = True
    """The paper-only guard at the start of a run (DESIGN.md §4: on by default)."""


class RiskGateState(msgspec.Struct, kw_only=True):
    """What the gate persists: the states per scope, the guard, and its counters."""

    trading: TradingStates = msgspec.field(default_factory=TradingStates)
    paper_only: bool = True
    approved: int = 0
    denied: int = 0


class RiskGate(Actor):
    """Judge every `OrderIntent` against the trading states; apply operator commands."""

    Params = RiskGateConfig

    def __init__(self, params: RiskGateConfig | None = None) -> None:
        self.params = params or RiskGateConfig()
        self.state = RiskGateState(paper_only=self.params.paper_only)

    def on_start(self) -> None:
        ctx = self.ctx
        ctx.subscribe(SetTradingState)
        ctx.subscribe(SetPaperGuard)
        ctx.subscribe(OrderIntent)
        # A state announced by someone else counts too: the kernel's kill switch when a risk or
        # execution actor escalates, SIGUSR1 (the kill switch without HTTP).
        ctx.subscribe(TradingStateChanged)

    def on_set_state(self, msg: SetTradingState) -> None:
        self._apply(msg.scope, msg.target, msg.state, msg.reason, msg.by)

    def on_announced_state(self, msg: TradingStateChanged) -> None:
        env = self.ctx.current
        if env is not None and env.src != self.ctx.name:
            self._apply(msg.scope, msg.target, msg.state, msg.reason, msg.by, announce=False)

    def _apply(
        self,
        scope: TradingScope,
        target: str,
        state: TradingState,
        reason: str,
        by: str,
        *,
        announce: bool = True,
    ) -> None:
        target = "*" if scope == "global" else target
        self.state.trading.set(scope, target, state)
        if announce:
            self.ctx.publish(
                TradingStateChanged(scope=scope, target=target, state=state, reason=reason, by=by)
            )
        if state == "HALTED":
            self.ctx.publish(CancelOpenOrders(scope=scope, target=target, reason=reason))
        self.ctx.log.info("trading_state_set", scope=scope, target=target, state=state, by=by)

    def on_guard(self, msg: SetPaperGuard) -> None:
        self.state.paper_only = msg.paper_only
        self.ctx.publish(PaperGuardChanged(paper_only=msg.paper_only, reason=msg.reason, by=msg.by))

    def on_intent(self, msg: OrderIntent) -> None:
        env = self.ctx.current
        actor = env.src if env is not None else ""
        st = self.state
        in_force = st.trading.in_force(
            venue=msg.venue, instrument=msg.instrument, strategy=msg.strategy, actor=actor
        )
        if in_force == "HALTED":
            self._deny(msg, "HALTED", "trading is halted for this order's scope")
        elif in_force == "REDUCING" and not msg.reduce_only:
            self._deny(msg, "REDUCING_ONLY", "only position-reducing orders pass while REDUCING")
        elif msg.qty <= 0:
            self._deny(msg, "QTY_NOT_POSITIVE", f"`qty` must be > 0, got {msg.qty}")
        else:
            st.approved += 1
            self.ctx.publish(OrderApproved(intent=msg))

    def _deny(self, msg: OrderIntent, code: str, detail: str) -> None:
        self.state.denied += 1
        self.ctx.publish(
            OrderDenied(client_id=msg.client_id, strategy=msg.strategy, code=code, detail=detail)
        )
