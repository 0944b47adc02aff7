"""The pre-trade gate: states per scope, the most restrictive wins, a halt cancels open orders."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from agents.risk.actor import RiskGate
from agents.risk.messages import (
    CancelOpenOrders,
    OrderApproved,
    OrderDenied,
    OrderIntent,
    PaperGuardChanged,
    SetPaperGuard,
    SetTradingState,
)
from agents.risk.states import SEVERITY, TradingStates
from runtime import ActorSpec, SimKernel, TradingStateChanged
from runtime.testing import Recorder, RecorderConfig

TAGS = [
    "risk.OrderApproved",
    "risk.OrderDenied",
    "risk.CancelOpenOrders",
    "kernel.TradingStateChanged",
    "risk.PaperGuardChanged",
]


def gate() -> tuple[SimKernel, Recorder]:
    k = SimKernel()
    k.add_actor(ActorSpec("risk", RiskGate, role="risk"))
    rec = Recorder(RecorderConfig(tags=TAGS))
    k.add_actor(ActorSpec("rec", lambda: rec))
    k.start()
    return k, rec


def intent(
    n: int, *, reduce_only: bool = False, venue: str = "kraken", strategy: str = "mm"
) -> OrderIntent:
    return OrderIntent(
        client_id=f"c{n}",
        strategy=strategy,
        venue=venue,
        instrument="BTC/USD",
        side="buy",
        qty=Decimal("0.1"),
        price=Decimal("100"),
        reduce_only=reduce_only,
    )


def test_active_approves_halted_denies_and_cancels_open_orders() -> None:
    k, rec = gate()
    k.emit_input("strategy", intent(1))
    k.emit_input(
        "operator:ana", SetTradingState(scope="global", state="HALTED", reason="drill", by="ana")
    )
    k.emit_input("strategy", intent(2))
    k.run()
    kinds = [type(m).__name__ for m in rec.messages]
    assert kinds == [
        "OrderApproved",
        "TradingStateChanged",
        "CancelOpenOrders",
        "OrderDenied",
    ]
    denied = rec.messages[-1]
    assert isinstance(denied, OrderDenied)
    assert denied.code == "HALTED"
    assert denied.client_id == "c2"
    cancel = rec.messages[2]
    assert isinstance(cancel, CancelOpenOrders)
    assert (cancel.scope, cancel.target) == ("global", "*")


def test_reducing_lets_only_reduce_only_orders_through() -> None:
    k, rec = gate()
    k.emit_input(
        "op", SetTradingState(scope="venue", target="kraken", state="REDUCING", reason="r", by="o")
    )
    k.emit_input("strategy", intent(1))
    k.emit_input("strategy", intent(2, reduce_only=True))
    k.emit_input("strategy", intent(3, venue="binance"))
    k.run()
    verdicts = [
        (type(m).__name__, getattr(m, "code", ""))
        for m in rec.messages
        if isinstance(m, OrderApproved | OrderDenied)
    ]
    assert verdicts == [
        ("OrderDenied", "REDUCING_ONLY"),
        ("OrderApproved", ""),
        ("OrderApproved", ""),
    ]


def test_a_kill_from_sigusr1_or_the_kernel_counts_without_a_second_announcement() -> None:
    k, rec = gate()
    k.emit_input(
        "operator:signal",
        TradingStateChanged(
            scope="global", target="*", state="HALTED", reason="SIGUSR1", by="signal:SIGUSR1"
        ),
    )
    k.emit_input("strategy", intent(1))
    k.run()
    kinds = [type(m).__name__ for m in rec.messages]
    # The signal's own announcement, the gate's cancel request, the denial: no echo.
    assert kinds == ["TradingStateChanged", "CancelOpenOrders", "OrderDenied"]


def test_resume_reopens_and_the_guard_toggles() -> None:
    k, rec = gate()
    k.emit_input(
        "op", SetTradingState(scope="strategy", target="mm", state="HALTED", reason="r", by="o")
    )
    k.emit_input("strategy", intent(1))
    k.emit_input(
        "op",
        SetTradingState(scope="strategy", target="mm", state="ACTIVE", reason="ok", by="admin"),
    )
    k.emit_input("strategy", intent(2))
    k.emit_input("op", SetPaperGuard(paper_only=False, reason="go live", by="admin"))
    k.run()
    verdicts = [
        type(m).__name__ for m in rec.messages if isinstance(m, OrderApproved | OrderDenied)
    ]
    assert verdicts == ["OrderDenied", "OrderApproved"]
    guard = [m for m in rec.messages if isinstance(m, PaperGuardChanged)]
    assert [g.paper_only for g in guard] == [False]
    assert k.actor("risk").state.paper_only is False  # type: ignore[attr-defined]


scopes = st.sampled_from(["global", "venue", "instrument", "strategy", "actor"])
states = st.sampled_from(["ACTIVE", "REDUCING", "HALTED"])


@given(st.lists(st.tuples(scopes, st.sampled_from(["a", "b"]), states), max_size=30))
def test_the_state_in_force_is_the_most_restrictive_matching_scope(
    ops: list[tuple[str, str, str]],
) -> None:
    ts = TradingStates()
    last: dict[str, str] = {}
    for scope, target, state in ops:
        ts.set(scope, target, state)  # type: ignore[arg-type]
        last["global" if scope == "global" else f"{scope}:{target}"] = state
    matching = ["global", "venue:a", "instrument:a", "strategy:a", "actor:a"]
    expected = max((last.get(key, "ACTIVE") for key in matching), key=SEVERITY.__getitem__)
    got = ts.in_force(venue="a", instrument="a", strategy="a", actor="a")
    assert got == expected
    assert all(v != "ACTIVE" for v in ts.states.values()), "ACTIVE is stored as no entry"
