"""Keep the API's read models as projections of the journal, never by reading actor objects.

Trading states, the paper-only guard, quarantined devices and approval requests are folded from
the events that announce them (DESIGN.md §3). At start the projections are rebuilt from the
store over the whole run; from then on a kernel tap applies each envelope as it is journaled,
synchronously, so an answer the API got from the bus (a kill's `TradingStateChanged`) is already
in the projection when the next request reads it.

Invariant: every envelope is applied exactly once and in seq order. The tap is attached before
the store is read and buffers until the rebuild is done; the rebuild reads up to the seq the tap
started after, and the buffer holds only seqs above it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from agents.devices.messages import DeviceQuarantined, DeviceReleased
from agents.ramp.messages import RampOrderUpdated, WalletChanged
from agents.risk.messages import PaperGuardChanged
from control_api.schemas import Approval, ApprovalState, QuarantinedDevice, ScopeState
from control_api.schemas_ramp import RampOrderView, RampStep, WalletBalance
from runtime import (
    CODEC,
    ApprovalGranted,
    ApprovalRejected,
    ApprovalRequested,
    Daemon,
    Envelope,
    Message,
    TradingState,
    TradingStateChanged,
)

DECIDED_KEPT = 10_000
"""Decided approval requests kept in memory; older ones are still in `GET /events`."""
RAMP_HISTORY_KEPT = 200
"""Steps of one ramp order's history kept in memory (the journal keeps every one)."""

_SEVERITY: dict[TradingState, int] = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


def tag_of(mtype: type[Message], /) -> str:
    """Return the journal tag of a message type."""
    return str(mtype.__struct_config__.tag)


class GuardView(msgspec.Struct, kw_only=True):
    """The guard's value and the event that last set it (seq 0: from config)."""

    paper_only: bool
    by: str = "config"
    reason: str = ""
    seq: int = 0


class Projections:
    """Fold trading states, the guard, quarantine and approvals from journaled events."""

    def __init__(self, *, paper_only: bool = True, log: Any = None) -> None:
        self.trading: dict[str, ScopeState] = {}
        self.guard = GuardView(paper_only=paper_only)
        self.quarantined: dict[str, QuarantinedDevice] = {}
        self.approvals: OrderedDict[str, Approval] = OrderedDict()
        self.pending = 0
        self.ramp_orders: dict[str, RampOrderView] = {}
        self.wallets: dict[str, dict[str, WalletBalance]] = {}
        self.last_seq = 0
        self._log = log
        self._buffer: list[Envelope] | None = None
        self._apply: dict[type[Message], Callable[[Envelope, Any], None]] = {
            TradingStateChanged: self._on_state,
            PaperGuardChanged: self._on_guard,
            DeviceQuarantined: self._on_quarantined,
            DeviceReleased: self._on_released,
            ApprovalRequested: self._on_requested,
            ApprovalGranted: self._on_granted,
            ApprovalRejected: self._on_rejected,
            RampOrderUpdated: self._on_ramp,
            WalletChanged: self._on_wallet,
        }
        self.tags = tuple(tag_of(t) for t in self._apply)

    @classmethod
    def for_daemon(cls, daemon: Daemon, /) -> Projections:
        """Return empty projections whose guard starts at the configured risk gate's value."""
        paper_only = True
        for agent in daemon.config.agents:
            if agent.kind in ("risk_gate", "agents.risk.actor:RiskGate"):
                paper_only = bool(agent.params.get("paper_only", True))
        return cls(paper_only=paper_only, log=daemon.log)

    # -- feeding -----------------------------------------------------------------------------

    @contextmanager
    def follow(self, daemon: Daemon, /) -> Iterator[None]:
        """Tap the kernel for as long as the block runs; buffer until `rebuild` is done."""
        self._buffer = []
        daemon.kernel.add_tap(self.apply)
        try:
            yield
        finally:
            daemon.kernel.remove_tap(self.apply)

    async def rebuild(self, daemon: Daemon, /, *, page: int = 1000) -> int:
        """Fold every stored event of the run, then the buffered ones; return how many applied.

        A cancellation point. Call inside `follow`.
        """
        assert self._buffer is not None, "rebuild runs inside follow()"
        upto = daemon.kernel.seq  # the tap buffers everything after this seq
        await daemon.kernel.wait_durable(upto)
        run_id = daemon.run.run_id
        n = 0
        after = 0
        while True:
            rows = await daemon.store.query(
                run_id, types=self.tags, after_seq=after, before_seq=upto + 1, limit=page
            )
            for row in rows:
                self._fold(CODEC.decode(row.data))
                n += 1
            if len(rows) < page:
                break
            after = rows[-1].seq
        buffered, self._buffer = self._buffer, None
        for env in buffered:
            self._fold(env)
        return n + len(buffered)

    def apply(self, env: Envelope, /) -> None:
        """Apply one envelope from the kernel tap; never raises (it runs inside the kernel)."""
        if type(env.msg) not in self._apply:
            return
        if self._buffer is not None:
            self._buffer.append(env)
            return
        try:
            self._fold(env)
        except Exception as exc:  # a projection bug must not fail the actor that emitted this
            if self._log is not None:
                self._log.error("projection_failed", seq=env.seq, error=repr(exc))

    def _fold(self, env: Envelope) -> None:
        fold = self._apply.get(type(env.msg))
        if fold is not None and env.seq > self.last_seq:
            fold(env, env.msg)
            self.last_seq = env.seq

    # -- folds -------------------------------------------------------------------------------

    def _on_state(self, env: Envelope, msg: TradingStateChanged) -> None:
        target = "*" if msg.scope == "global" else msg.target
        key = "global" if msg.scope == "global" else f"{msg.scope}:{target}"
        if msg.state == "ACTIVE":
            self.trading.pop(key, None)
        else:
            self.trading[key] = ScopeState(
                scope=msg.scope,
                target=target,
                state=msg.state,
                reason=msg.reason,
                by=msg.by,
                seq=env.seq,
                ts=env.ts,
            )

    def _on_guard(self, env: Envelope, msg: PaperGuardChanged) -> None:
        self.guard = GuardView(paper_only=msg.paper_only, by=msg.by, reason=msg.reason, seq=env.seq)

    def _on_quarantined(self, env: Envelope, msg: DeviceQuarantined) -> None:
        self.quarantined[msg.device_id] = QuarantinedDevice(
            device_id=msg.device_id, reason=msg.reason, by=msg.by, seq=env.seq, ts=env.ts
        )

    def _on_released(self, env: Envelope, msg: DeviceReleased) -> None:
        self.quarantined.pop(msg.device_id, None)

    def _on_ramp(self, env: Envelope, msg: RampOrderUpdated) -> None:
        view = self.ramp_orders.get(msg.ramp_id)
        if view is None:
            view = self.ramp_orders[msg.ramp_id] = RampOrderView(
                ramp_id=msg.ramp_id, side=msg.side, user=msg.user, fiat=msg.fiat, coin=msg.coin,
                fiat_amount=msg.fiat_amount, coin_amount=msg.coin_amount, stage=msg.stage,
                provider_status=msg.provider_status, provider_order_id=msg.provider_order_id,
                tx_hash=msg.tx_hash, created_seq=env.seq, updated_seq=env.seq,
            )  # fmt: skip
        view.fiat_amount, view.coin_amount = msg.fiat_amount, msg.coin_amount
        view.stage, view.provider_status = msg.stage, msg.provider_status
        view.provider_order_id, view.tx_hash = msg.provider_order_id, msg.tx_hash
        view.updated_seq = env.seq
        step = RampStep(
            seq=env.seq, ts=env.ts, stage=msg.stage, provider_status=msg.provider_status,
            note=msg.note, tx_hash=msg.tx_hash,
        )  # fmt: skip
        view.history.append(step)
        if len(view.history) > RAMP_HISTORY_KEPT:
            del view.history[0]

    def _on_wallet(self, env: Envelope, msg: WalletChanged) -> None:
        self.wallets.setdefault(msg.user, {})[msg.asset] = WalletBalance(
            asset=msg.asset, balance=msg.balance, held=msg.held, free=msg.balance - msg.held,
            seq=env.seq,
        )  # fmt: skip

    def _on_requested(self, env: Envelope, msg: ApprovalRequested) -> None:
        if msg.request_id in self.approvals:
            return
        self.approvals[msg.request_id] = Approval(
            request_id=msg.request_id,
            action=msg.action,
            detail=msg.detail,
            requested_by=msg.requested_by,
            requester=msg.requester,
            state="pending",
            expires_ns=msg.expires_ns,
            requested_seq=env.seq,
        )
        self.pending += 1

    def _on_granted(self, env: Envelope, msg: ApprovalGranted) -> None:
        self._decide(env, msg.request_id, "approved", msg.by, msg.reason)

    def _on_rejected(self, env: Envelope, msg: ApprovalRejected) -> None:
        self._decide(env, msg.request_id, "rejected", msg.by, msg.reason)

    def _decide(
        self, env: Envelope, request_id: str, state: ApprovalState, by: str, reason: str
    ) -> None:
        known = self.approvals.get(request_id)
        if known is None or known.state != "pending":
            return
        self.approvals[request_id] = msgspec.structs.replace(
            known, state=state, decided_by=by, reason=reason, decided_seq=env.seq
        )
        self.pending -= 1
        self._evict()

    def _evict(self) -> None:
        decided = len(self.approvals) - self.pending
        if decided <= DECIDED_KEPT:
            return
        for rid in [r for r, a in self.approvals.items() if a.state != "pending"][
            : decided - DECIDED_KEPT
        ]:
            del self.approvals[rid]

    # -- reading -----------------------------------------------------------------------------

    def global_state(self) -> TradingState:
        """Return the state at global scope."""
        entry = self.trading.get("global")
        return entry.state if entry is not None else "ACTIVE"

    def scopes(self) -> list[ScopeState]:
        """Return every non-ACTIVE scope, most severe first, then by seq."""
        return sorted(self.trading.values(), key=lambda s: (-_SEVERITY[s.state], s.seq))

    def list_approvals(self, state: ApprovalState | None, /) -> list[Approval]:
        """Return approval requests in `state` (every one when None), oldest first."""
        return [a for a in self.approvals.values() if state is None or a.state == state]
