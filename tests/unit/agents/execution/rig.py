"""A desk for execution tests: the real risk gate, execution and simulated venue in a SimKernel,
with faults scripted one by one instead of drawn, and a tape of everything published."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from structlog.testing import capture_logs

from adapters.venues.simulated import SimulatedVenue, SimulatedVenueConfig
from adapters.venues.simulated.config import VenueFaultsConfig
from adapters.venues.simulated.venue import Fault
from agents.data.messages import Bar
from agents.execution.actor import Execution, ExecutionConfig
from agents.execution.messages import (
    CancelOrder,
    OrderFilled,
    QueryOrder,
    ReconciliationReport,
    RequestCancel,
    RequestReplace,
    SubmitOrder,
    VenueEvent,
)
from agents.execution.orders import Order
from agents.execution.timeouts import TimeoutConfig
from agents.risk.actor import RiskGate
from agents.risk.messages import OrderDenied, OrderIntent
from runtime import Actor, ActorSpec, Journal, Message, SimKernel

D = Decimal
MS = 1_000_000
SEC = 1_000 * MS
T = TypeVar("T", bound=Message)


class ScriptedVenue(SimulatedVenue):
    """The simulated venue, whose faults strike when a test says so, and which keeps its inbox.

    `script` holds fault kinds; each strikes the next message it applies to, once.
    """

    def __init__(self, params: SimulatedVenueConfig | None = None) -> None:
        base = params or SimulatedVenueConfig()
        super().__init__(msgspec_replace(base, faults=base.faults or VenueFaultsConfig()))
        self.script: list[str] = []
        self.inbox: list[Message] = []
        self.placed: Counter[str] = Counter()
        """How many times each client id was placed in the book (must never pass 1)."""

    def _fault(self, kind: Fault, /) -> bool:
        if kind in self.script:
            self.script.remove(kind)
            return True
        return False

    def on_submit(self, msg: SubmitOrder) -> None:
        self.inbox.append(msg)
        before = self.state.next_order
        super().on_submit(msg)
        if self.state.next_order != before:
            self.placed[msg.client_id] += 1

    def on_cancel(self, msg: CancelOrder) -> None:
        self.inbox.append(msg)
        super().on_cancel(msg)

    def on_query(self, msg: QueryOrder) -> None:
        self.inbox.append(msg)
        super().on_query(msg)


def msgspec_replace(cfg: SimulatedVenueConfig, **changes: Any) -> SimulatedVenueConfig:
    import msgspec

    return msgspec.structs.replace(cfg, **changes)


class Tape(Actor):
    """Keep every venue event, denial and reconciliation report, in arrival order, with the
    time each arrived."""

    def __init__(self) -> None:
        self.got: list[tuple[int, Message]] = []

    def on_start(self) -> None:
        self.ctx.subscribe(VenueEvent)
        self.ctx.subscribe(OrderDenied)
        self.ctx.subscribe(ReconciliationReport)

    def on_any(self, msg: Message) -> None:
        self.got.append((self.ctx.now, msg))


class Rig:
    """Risk gate -> execution -> scripted venue, driven by a test."""

    def __init__(
        self,
        *,
        timeouts: TimeoutConfig | None = None,
        venue: SimulatedVenueConfig | None = None,
        risk: Any = None,
        start_ns: int = 0,
        sink: Any = None,
        run_id: str = "",
        **execution: Any,
    ) -> None:
        kernel: dict[str, Any] = (
            {"sink": sink, "journal": Journal(), "run_id": run_id} if sink else {}
        )
        self.k = k = SimKernel(start_ns=start_ns, logger=structlog.get_logger(), **kernel)
        self.venue = ScriptedVenue(venue or SimulatedVenueConfig(relay=True))
        self.ex = Execution(ExecutionConfig(timeouts=timeouts or TimeoutConfig(), **execution))
        self.tape = Tape()
        k.add_actor(ActorSpec("sim", lambda: self.venue))
        k.add_actor(ActorSpec("risk", (lambda: RiskGate(risk)) if risk else RiskGate, role="risk"))
        k.add_actor(ActorSpec("execution", lambda: self.ex, role="execution"))
        k.add_actor(ActorSpec("s", lambda: self.tape))

    # -- driving ---------------------------------------------------------------------------

    def submit(self, n: int, side: str = "buy", qty: str = "1", price: str | None = "99") -> str:
        cid = f"s-{n}"
        self.k.emit_input(
            "s",
            OrderIntent(client_id=cid, strategy="s", venue="sim", instrument="BTC/USDT",
                        side=side, qty=D(qty), price=None if price is None else D(price)),  # type: ignore[arg-type]
            dst="risk",
        )  # fmt: skip
        self.settle()
        return cid

    def cancel(self, cid: str) -> None:
        self.k.emit_input("s", RequestCancel(client_id=cid, strategy="s"), dst="execution")
        self.settle()

    def replace(self, cid: str, new: str, qty: str, price: str | None) -> None:
        self.k.emit_input(
            "s",
            RequestReplace(
                client_id=cid,
                new_client_id=new,
                strategy="s",
                qty=D(qty),
                price=None if price is None else D(price),
            ),
            dst="execution",
        )
        self.settle()

    def bar(self, low: str, high: str, volume: str = "1000", open_: str = "100") -> None:
        """Publish a bar that opened now, through the venue (it matches, then relays)."""
        now = self.k.now_ns()
        self.k.emit_input(
            "feed",
            Bar(
                instrument="BTC/USDT",
                start_ns=now,
                end_ns=now + 60 * SEC,
                open=D(open_),
                high=D(high),
                low=D(low),
                close=D(open_),
                volume=D(volume),
                trades=0,
            ),
            dst="sim",
        )
        self.settle()

    def settle(self) -> None:
        """Handle everything due now (no clock movement)."""
        self.k.run(until_ns=self.k.now_ns())

    def advance(self, ms: float) -> None:
        """Let `ms` of kernel time pass: timers fire on the way."""
        self.k.run(until_ns=self.k.now_ns() + round(ms * MS))

    # -- reading ---------------------------------------------------------------------------

    def events(self, mtype: type[T], cid: str | None = None) -> list[T]:
        return [
            m
            for _, m in self.tape.got
            if isinstance(m, mtype) and (cid is None or getattr(m, "client_id", None) == cid)
        ]

    def sent(self, mtype: type[T], cid: str | None = None) -> list[T]:
        return [
            m
            for m in self.venue.inbox
            if isinstance(m, mtype) and (cid is None or getattr(m, "client_id", None) == cid)
        ]

    def order(self, cid: str) -> Order | None:
        return self.ex.state.open.get(cid)

    def filled(self, cid: str) -> Decimal:
        return sum((m.qty for m in self.events(OrderFilled, cid)), D(0))


@contextmanager
def logs() -> Iterator[list[dict[str, Any]]]:
    """Capture structlog events (the kernel's logger is `structlog.get_logger()` in a `Rig`)."""
    with capture_logs() as captured:
        yield captured
