"""The pre-trade rules, one test each, driven through the gate in a sim kernel; codes asserted."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.data.messages import Bar, Quote, Tick
from agents.execution.messages import OrderCanceled, OrderExpired, OrderFilled, OrderRejected
from agents.risk import checks
from agents.risk.actor import RiskGate, RiskGateConfig
from agents.risk.messages import (
    DrawdownTierChanged,
    OrderApproved,
    OrderDenied,
    OrderIntent,
    RiskReport,
    SetTradingState,
)
from agents.risk.throttle import RateWindow
from runtime import ActorSpec, ConfigError, SimKernel, TradingStateChanged
from runtime.config import decode_params
from runtime.testing import Recorder, RecorderConfig

MS = 1_000_000
TAGS = [
    "risk.OrderApproved",
    "risk.OrderDenied",
    "risk.CancelOpenOrders",
    "risk.DrawdownTierChanged",
    "risk.RiskReport",
    "kernel.TradingStateChanged",
]
BTC = {"tick": "0.01", "lot": "0.001", "base": "BTC", "quote": "USDT"}


class Gate:
    """A risk gate in a sim kernel, with a recorder, driven one input at a time."""

    def __init__(self, **params: Any) -> None:
        self.params = msgspec.convert(params, RiskGateConfig)
        self.k = SimKernel()
        self.k.add_actor(ActorSpec("risk", lambda: RiskGate(self.params), role="risk"))
        self.rec = Recorder(RecorderConfig(tags=TAGS))
        self.k.add_actor(ActorSpec("rec", lambda: self.rec))
        self.k.start()
        self.ts = 0
        self.n = 0

    @property
    def gate(self) -> RiskGate:
        actor = self.k.actor("risk")
        assert isinstance(actor, RiskGate)
        return actor

    def emit(self, msg: Any, *, at_ms: float | None = None, src: str = "venue") -> None:
        if at_ms is not None:
            self.ts = int(at_ms * MS)
        self.k.emit_input(src, msg, ts=self.ts)
        self.k.run()

    def order(
        self,
        side: str = "buy",
        qty: str = "0.1",
        price: str | None = "100",
        *,
        at_ms: float | None = None,
        **kw: Any,
    ) -> OrderApproved | OrderDenied:
        """Submit one intent; return the gate's verdict on it."""
        self.n += 1
        fields = {
            "client_id": f"c{self.n}",
            "strategy": "mm",
            "venue": "sim",
            "instrument": "BTC/USDT",
            "side": side,
            "qty": Decimal(qty),
            "price": None if price is None else Decimal(price),
        }
        fields.update(kw)
        self.emit(OrderIntent(**fields), at_ms=at_ms, src="strategy")
        verdict = [m for m in self.rec.messages if isinstance(m, OrderApproved | OrderDenied)][-1]
        cid = verdict.intent.client_id if isinstance(verdict, OrderApproved) else verdict.client_id
        assert cid == fields["client_id"]
        return verdict

    def mark(self, price: str, *, at_ms: float | None = None, instrument: str = "BTC/USDT") -> None:
        self.emit(Tick(instrument=instrument, price=Decimal(price), size=Decimal(1)), at_ms=at_ms)

    def fill(
        self, cid: str, side: str, qty: str, price: str, leaves: str, *, fee: str = "0"
    ) -> None:
        self.emit(
            OrderFilled(
                client_id=cid,
                strategy="mm",
                venue="sim",
                instrument="BTC/USDT",
                fill_id=f"f-{cid}-{leaves}",
                side=side,  # type: ignore[arg-type]
                qty=Decimal(qty),
                price=Decimal(price),
                fee=Decimal(fee),
                fee_asset="USDT",
                liquidity="maker",
                leaves_qty=Decimal(leaves),
            )
        )

    def cancel(self, cid: str, leaves: str) -> None:
        self.emit(
            OrderCanceled(
                client_id=cid,
                strategy="mm",
                venue="sim",
                instrument="BTC/USDT",
                leaves_qty=Decimal(leaves),
            )
        )

    def of(self, mtype: type[Any]) -> list[Any]:
        return [m for m in self.rec.messages if isinstance(m, mtype)]


def code(verdict: OrderApproved | OrderDenied) -> str:
    return verdict.code if isinstance(verdict, OrderDenied) else "APPROVED"


# -- trading states -----------------------------------------------------------------------------


def test_halted_denies_with_halted() -> None:
    g = Gate()
    g.emit(
        SetTradingState(scope="instrument", target="BTC/USDT", state="HALTED", reason="r", by="o")
    )
    assert code(g.order()) == checks.HALTED


def test_reducing_denies_an_order_not_marked_reduce_only() -> None:
    g = Gate()
    g.emit(SetTradingState(scope="global", state="REDUCING", reason="r", by="o"))
    assert code(g.order("sell")) == checks.REDUCING_ONLY
    assert code(g.order("sell", reduce_only=True)) == "APPROVED"


def test_reducing_with_known_positions_denies_a_buy_marked_reduce_only() -> None:
    g = Gate(balances={"sim": {"USDT": "1000", "BTC": "1"}})
    g.emit(SetTradingState(scope="global", state="REDUCING", reason="r", by="o"))
    assert code(g.order("buy", reduce_only=True)) == checks.REDUCING_POSITION
    assert code(g.order("sell", qty="1", reduce_only=True)) == "APPROVED"
    # A flagged sell beyond the position does not reduce it either: it would go short.
    assert code(g.order("sell", qty="0.5", reduce_only=True)) == checks.NO_LEVERAGE_POSITION


def test_non_positive_qty_and_price_are_denied() -> None:
    g = Gate()
    assert code(g.order(qty="0")) == checks.QTY_NOT_POSITIVE
    assert code(g.order(price="-1")) == checks.PRICE_NOT_POSITIVE


# -- conformance --------------------------------------------------------------------------------


def test_lot_denies_a_quantity_off_the_lot_grid_in_msgspec_words() -> None:
    g = Gate(instruments={"BTC/USDT": {"lot": "0.01"}})
    denied = g.order(qty="0.015")
    assert code(denied) == checks.LOT
    assert isinstance(denied, OrderDenied)
    assert denied.detail == "`qty` 0.015 is not a multiple of lot 0.01"
    assert code(g.order(qty="0.02")) == "APPROVED"


def test_tick_denies_a_price_off_the_tick_grid() -> None:
    g = Gate(instruments={"BTC/USDT": BTC})
    assert code(g.order(price="100.005")) == checks.TICK
    assert code(g.order(price="100.01")) == "APPROVED"
    assert code(g.order(price=None)) == "APPROVED", "a market order has no price to check"


def test_min_notional_denies_an_order_too_small() -> None:
    g = Gate(instruments={"BTC/USDT": {"min_notional": "10"}})
    assert code(g.order(qty="0.09", price="100")) == checks.MIN_NOTIONAL
    assert code(g.order(qty="0.1", price="100")) == "APPROVED"


# -- size limits --------------------------------------------------------------------------------


def test_max_order_qty() -> None:
    g = Gate(instruments={"BTC/USDT": {"max_order_qty": "1"}})
    assert code(g.order(qty="1.001")) == checks.MAX_ORDER_QTY
    assert code(g.order(qty="1")) == "APPROVED"


def test_max_order_notional_values_a_market_order_at_the_last_mark() -> None:
    g = Gate(max_order_notional="1000")
    assert code(g.order(qty="11", price="100")) == checks.MAX_ORDER_NOTIONAL
    assert code(g.order(qty="10", price="100")) == "APPROVED"
    assert code(g.order(qty="1", price=None)) == checks.NO_MARK
    g.mark("200")
    assert code(g.order(qty="6", price=None)) == checks.MAX_ORDER_NOTIONAL
    assert code(g.order(qty="5", price=None)) == "APPROVED"


# -- market data guards -------------------------------------------------------------------------


def test_price_band_against_the_last_mark() -> None:
    g = Gate(price_band_bps="500")
    assert code(g.order(price="100")) == checks.NO_MARK
    g.emit(
        Quote(
            instrument="BTC/USDT",
            bid=Decimal("99"),
            bid_size=Decimal(1),
            ask=Decimal("101"),
            ask_size=Decimal(1),
        )
    )
    assert code(g.order(price="105.01")) == checks.PRICE_BAND
    assert code(g.order(price="94.99")) == checks.PRICE_BAND
    assert code(g.order(price="105")) == "APPROVED"
    assert code(g.order(price="95")) == "APPROVED"


def test_stale_data_guard_on_the_kernel_clock() -> None:
    g = Gate(stale_after_ms=500)
    assert code(g.order(at_ms=0)) == checks.STALE_DATA
    g.emit(
        Bar(
            instrument="BTC/USDT",
            start_ns=0,
            end_ns=MS,
            open=Decimal(100),
            high=Decimal(100),
            low=Decimal(100),
            close=Decimal(100),
            volume=Decimal(1),
            trades=1,
        ),
        at_ms=1,
    )
    assert code(g.order(at_ms=501)) == "APPROVED"
    denied = g.order(at_ms=502)
    assert code(denied) == checks.STALE_DATA
    assert isinstance(denied, OrderDenied)
    assert denied.detail == "market data for `BTC/USDT` is 501 ms old, the limit is 500 ms"


# -- throttles ----------------------------------------------------------------------------------


def test_submit_rate_is_a_sliding_window_on_kernel_time() -> None:
    g = Gate(submit_rate={"count": 2, "window_ms": 1000})
    assert code(g.order(at_ms=0)) == "APPROVED"
    assert code(g.order(at_ms=10)) == "APPROVED"
    assert code(g.order(at_ms=999)) == checks.RATE_SUBMIT
    assert code(g.order(at_ms=1000)) == "APPROVED", "the first slot is a window old"
    assert code(g.order(at_ms=1009)) == checks.RATE_SUBMIT
    assert code(g.order(at_ms=1009, strategy="other")) == "APPROVED", "windows are per strategy"


def test_modify_rate_counts_replacing_orders_only() -> None:
    g = Gate(modify_rate={"count": 1, "window_ms": 100, "per": "global"})
    assert code(g.order(at_ms=0, replaces="c0")) == "APPROVED"
    assert code(g.order(at_ms=50, replaces="c1")) == checks.RATE_MODIFY
    assert code(g.order(at_ms=50)) == "APPROVED", "a new order is no modify"
    assert code(g.order(at_ms=100, replaces="c1")) == "APPROVED"


def test_a_rate_window_holds_at_most_count_stamps() -> None:
    w = RateWindow()
    for t in range(10):
        if w.admits(t, 3, 5):
            w.record(t, 3)
    assert sorted(w.stamps) == [5, 6, 7]


# -- the book: no leverage, inventory, exposure -------------------------------------------------


def test_no_leverage_cash_counts_fees_and_reservations() -> None:
    g = Gate(balances={"sim": {"USDT": "1005"}}, fee_bound_bps="50")
    denied = g.order(qty="10.01", price="100")
    assert code(denied) == checks.NO_LEVERAGE_CASH
    assert isinstance(denied, OrderDenied)
    assert denied.detail == "buy costs up to 1006.00500 USDT, only 1005 USDT is free at `sim`"
    assert code(g.order(qty="10", price="100")) == "APPROVED"  # 1000 x 1.005 = 1005
    assert code(g.order(qty="0.001", price="100")) == checks.NO_LEVERAGE_CASH
    g.cancel("c2", leaves="10")
    assert code(g.order(qty="10", price="100")) == "APPROVED", "the cancel released it"
    assert code(g.order(qty="1", price="1", venue="other")) == checks.NO_LEVERAGE_CASH


def test_no_leverage_position_no_shorting() -> None:
    g = Gate(balances={"sim": {"USDT": "0", "BTC": "1"}})
    assert code(g.order("sell", qty="1.001")) == checks.NO_LEVERAGE_POSITION
    assert code(g.order("sell", qty="0.6")) == "APPROVED"
    assert code(g.order("sell", qty="0.6")) == checks.NO_LEVERAGE_POSITION, "0.6 is reserved"
    g.fill("c2", "sell", "0.2", "100", leaves="0.4")
    assert code(g.order("sell", qty="0.4")) == "APPROVED"
    book = g.gate.state.book
    assert book.balances["sim"] == {"USDT": Decimal("20.0"), "BTC": Decimal("0.8")}
    assert book.free("sim", "BTC") == 0
    g.emit(
        OrderExpired(
            client_id="c4",
            strategy="mm",
            venue="sim",
            instrument="BTC/USDT",
            leaves_qty=Decimal("0.4"),
        )
    )
    g.emit(
        OrderRejected(
            client_id="c2", strategy="mm", venue="sim", instrument="BTC/USDT", code="X", detail="x"
        )
    )
    assert book.free("sim", "BTC") == Decimal("0.8")
    assert book.orders == {}


def test_fills_move_cash_and_release_the_filled_part() -> None:
    g = Gate(balances={"sim": {"USDT": "1000"}}, fee_bound_bps="0")
    assert code(g.order(qty="10", price="100")) == "APPROVED"
    g.fill("c1", "buy", "4", "99", leaves="6", fee="0.4")
    book = g.gate.state.book
    assert book.balances["sim"] == {"USDT": Decimal("603.6"), "BTC": Decimal(4)}
    assert book.reserved["sim"]["USDT"] == Decimal(600)
    assert book.free("sim", "USDT") == Decimal("3.6")
    g.fill("c1", "buy", "6", "100", leaves="0")
    assert book.free("sim", "USDT") == Decimal("3.6")
    assert book.orders == {}
    assert book.pending_buys["BTC"] == 0


def test_a_market_buy_reserves_at_the_mark_plus_the_buffer() -> None:
    g = Gate(balances={"sim": {"USDT": "1010"}}, fee_bound_bps="0", market_buffer_bps="100")
    assert code(g.order(qty="10", price=None)) == checks.NO_MARK
    g.mark("100")
    assert code(g.order(qty="10.001", price=None)) == checks.NO_LEVERAGE_CASH
    assert code(g.order(qty="10", price=None)) == "APPROVED"
    assert g.gate.state.book.reserved["sim"]["USDT"] == Decimal(1010)


def test_max_inventory_counts_holdings_and_open_buys() -> None:
    g = Gate(instruments={"BTC/USDT": {"max_inventory": "1"}})
    assert code(g.order(qty="0.6")) == "APPROVED"
    assert code(g.order(qty="0.5")) == checks.MAX_INVENTORY
    g.fill("c1", "buy", "0.6", "100", leaves="0")
    assert code(g.order(qty="0.4")) == "APPROVED"
    assert code(g.order("sell", qty="0.5")) == "APPROVED", "a sell lowers inventory"


def test_exposure_per_instrument() -> None:
    g = Gate(instruments={"BTC/USDT": {"max_exposure": "100"}})
    assert code(g.order(qty="0.5", price="100")) == "APPROVED"
    g.fill("c1", "buy", "0.5", "100", leaves="0")
    g.mark("150")  # 0.5 held, now worth 75
    assert code(g.order(qty="0.2", price="150")) == checks.EXPOSURE_INSTRUMENT
    assert code(g.order(qty="0.1", price="150")) == "APPROVED"


def test_exposure_total_values_every_asset_in_the_equity_asset() -> None:
    g = Gate(
        balances={"sim": {"USDT": "10000", "ETH": "1"}},
        max_exposure_total="300",
        fee_bound_bps="0",
    )
    assert code(g.order(qty="1", price="100")) == checks.NO_MARK, "ETH has no mark yet"
    g.mark("200", instrument="ETH/USDT")
    assert code(g.order(qty="1.01", price="100")) == checks.EXPOSURE_TOTAL
    assert code(g.order(qty="1", price="100")) == "APPROVED"
    assert code(g.order(qty="0.01", price="100")) == checks.EXPOSURE_TOTAL, "the open buy counts"


def test_unknown_instrument_and_duplicate_client_id() -> None:
    g = Gate(balances={"sim": {"USDT": "1000"}})
    assert code(g.order(instrument="BTCUSDT")) == checks.UNKNOWN_INSTRUMENT
    assert code(g.order(client_id="same")) == "APPROVED"
    assert code(g.order(client_id="same")) == checks.DUPLICATE_CLIENT_ID


# -- drawdown -----------------------------------------------------------------------------------


def drawdown_gate() -> Gate:
    # 10 BTC at 100 and 1000 USDT: equity 2000 at the first mark.
    return Gate(
        balances={"sim": {"USDT": "1000", "BTC": "10"}},
        instruments={"BTC/USDT": {"max_order_qty": "1"}},
        drawdown="default",
    )


def test_drawdown_tiers_move_from_the_peak_and_stick_until_an_admin_resumes() -> None:
    g = drawdown_gate()
    g.mark("100", at_ms=1)  # equity 2000
    g.mark("110", at_ms=2)  # equity 2100: the peak
    assert code(g.order(qty="1", price="110")) == "APPROVED"
    g.cancel("c1", leaves="1")
    g.mark("103.8", at_ms=3)  # equity 2038: -2.95%, no tier
    assert g.of(DrawdownTierChanged) == []
    g.mark("103.7", at_ms=4)  # equity 2037: -3%, size halves
    assert [t.tier for t in g.of(DrawdownTierChanged)] == [1]
    assert code(g.order(qty="0.6", price="103.7")) == checks.DRAWDOWN_SIZE
    assert code(g.order(qty="0.5", price="103.7")) == "APPROVED"
    g.mark("99.5", at_ms=5)  # equity 1995: -5%, REDUCING
    assert code(g.order(qty="0.1", price="99.5")) == checks.REDUCING_ONLY
    g.mark("93.2", at_ms=6)  # equity 1932: -8%, HALTED
    changes = [m for m in g.of(TradingStateChanged) if m.by == "risk:drawdown"]
    assert [(m.scope, m.state) for m in changes] == [("global", "REDUCING"), ("global", "HALTED")]
    assert code(g.order(qty="0.1", price="93.2")) == checks.HALTED
    assert code(g.order("sell", qty="0.1", price="93.2", reduce_only=True)) == checks.HALTED
    g.mark("105", at_ms=7)  # equity 2050: a recovery lifts nothing, tiers are sticky
    assert code(g.order(qty="0.1", price="105")) == checks.HALTED
    g.emit(
        SetTradingState(scope="global", state="ACTIVE", reason="ok", by="admin"), src="operator:a"
    )
    assert [t.tier for t in g.of(DrawdownTierChanged)] == [1, 2, 3, 0]
    assert code(g.order(qty="1", price="105")) == "APPROVED", "resume lifts the size cut too"
    report_state = g.gate.state.drawdown
    assert report_state.peak == Decimal(2050), "the peak re-based at the resume"
    assert [(s.from_tier, s.to_tier, s.by) for s in report_state.transitions] == [
        (0, 1, "risk:drawdown"),
        (1, 2, "risk:drawdown"),
        (2, 3, "risk:drawdown"),
        (3, 0, "admin"),
    ]


def test_a_drawdown_tier_never_loosens_an_operator_halt() -> None:
    g = drawdown_gate()
    g.mark("100")
    g.emit(SetTradingState(scope="global", state="HALTED", reason="kill", by="o"))
    g.mark("90")  # -5%: the tier asks for REDUCING, the kill stands
    assert [m.by for m in g.of(TradingStateChanged)] == ["o"]
    assert code(g.order("sell", reduce_only=True)) == checks.HALTED


def test_the_report_counts_denials_per_code_and_lists_transitions() -> None:
    g = drawdown_gate()
    g.mark("100", at_ms=1)
    g.order(qty="2")
    g.order(qty="2")
    g.order(qty="1", price="1001")
    g.mark("96", at_ms=2)
    g.k.stop()
    [report] = g.of(RiskReport)
    assert report.denials == {"MAX_ORDER_QTY": 2, "NO_LEVERAGE_CASH": 1}
    assert (report.approved, report.denied) == (0, 3)
    assert report.peak_equity == Decimal(2000)
    assert report.max_drawdown_pct == Decimal("2.0000")
    assert report.transitions == []
    assert msgspec.json.decode(msgspec.json.encode(report), type=RiskReport) == report


# -- state and config ---------------------------------------------------------------------------


def test_snapshot_restore_keeps_the_book_marks_and_windows() -> None:
    g = Gate(
        balances={"sim": {"USDT": "1000", "BTC": "1"}},
        submit_rate={"count": 5, "window_ms": 1000},
        drawdown="default",
        instruments={"BTC/USDT": {"max_order_qty": "1"}},
    )
    g.mark("100", at_ms=1)
    g.order(qty="1", price="100")
    g.order("sell", qty="0.5", price="100")
    fresh = RiskGate(g.params)
    data = g.gate.snapshot()
    assert data is not None
    fresh.restore(data)
    assert fresh.state == g.gate.state
    assert fresh.state.book.free("sim", "BTC") == Decimal("0.5")


def test_a_gate_without_params_subscribes_to_no_market_data_or_fills() -> None:
    g = Gate()
    subs = {tag for tag, _ in g.k.cells["risk"].ctx.state.subscriptions}
    assert subs == {
        "risk.SetTradingState",
        "risk.SetPaperGuard",
        "risk.OrderIntent",
        "kernel.TradingStateChanged",
    }
    g.k.stop()
    [report] = g.of(RiskReport)
    assert report.equity is None and report.peak_equity is None


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (
            {"instruments": {"BTC/USDT": {"lot": "0"}}},
            "`lot` must be > 0, got 0 - at `$.agents[0].params.instruments[...]`",
        ),
        (
            {"drawdown": "default", "balances": {"sim": {"USDT": "1"}}},
            "`drawdown` scales order size but no `max_order_notional` or `max_order_qty` is set",
        ),
        ({"drawdown": [{"at_pct": "5"}]}, "`drawdown` needs `balances` to measure equity"),
        (
            {
                "balances": {"sim": {"USDT": "1"}},
                "drawdown": [{"at_pct": "5", "state": "HALTED"}, {"at_pct": "8"}],
            },
            "`drawdown` tiers must not loosen `state`, got ACTIVE",
        ),
        ({"balances": {"sim": {"USDT": "-1"}}}, "`balances.sim.USDT` must be >= 0, got -1"),
        ({"submit_rate": {"count": 0, "window_ms": 1}}, "Expected `int` >= 1"),
    ],
)
def test_config_errors_read_like_msgspec(params: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as exc:
        decode_params(params, RiskGateConfig, where="$.agents[0].params", source="x.toml")
    assert error in str(exc.value)


# -- the no-leverage invariant --------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_no_leverage_holds_for_any_sequence_of_orders_fills_and_cancels(
    data: st.DataObject,
) -> None:
    """Approve an order iff it fits the free cash (buy) or position (sell) of an independent model.

    The model is this test's own: balances moved by the fills it sends, minus what the open
    approved orders may still consume (limit x (1 + fee bound) per unit bought, the units sold).
    Fills come at the limit or better, with the worst fee the bound allows, partially or not.
    """
    fee = Decimal("0.005")
    cash = Decimal(data.draw(st.integers(0, 3000), label="usdt"))
    pos = Decimal(data.draw(st.integers(0, 3000), label="btc_milli")) / 1000
    g = Gate(balances={"sim": {"USDT": str(cash), "BTC": str(pos)}}, fee_bound_bps="50")
    open_orders: dict[str, tuple[str, Decimal, Decimal]] = {}  # cid -> (side, leaves, limit)
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        op = data.draw(st.sampled_from(["order", "order", "fill", "cancel"]))
        if op == "order" or not open_orders:
            side = data.draw(st.sampled_from(["buy", "sell"]))
            qty = Decimal(data.draw(st.integers(1, 3000))) / 1000
            price = Decimal(data.draw(st.integers(50, 150)))
            busy_cash = sum(
                (left * px * (1 + fee) for s, left, px in open_orders.values() if s == "buy"),
                Decimal(0),
            )
            busy_pos = sum((left for s, left, _ in open_orders.values() if s == "sell"), Decimal(0))
            fits = (
                qty * price * (1 + fee) <= cash - busy_cash
                if side == "buy"
                else qty <= pos - busy_pos
            )
            verdict = g.order(side, str(qty), str(price))
            assert code(verdict) == (
                "APPROVED"
                if fits
                else checks.NO_LEVERAGE_CASH
                if side == "buy"
                else checks.NO_LEVERAGE_POSITION
            )
            if fits:
                open_orders[f"c{g.n}"] = (side, qty, price)
            continue
        cid = data.draw(st.sampled_from(sorted(open_orders)))
        side, leaves, limit = open_orders.pop(cid)
        if op == "cancel":
            g.cancel(cid, str(leaves))
            continue
        q = Decimal(data.draw(st.integers(1, int(leaves * 1000)))) / 1000
        better = Decimal(data.draw(st.integers(0, 5)))
        px = limit - better if side == "buy" else limit + better
        cost = q * px * fee
        g.fill(cid, side, str(q), str(px), str(leaves - q), fee=str(cost))
        if side == "buy":
            cash -= q * px + cost
            pos += q
        else:
            cash += q * px - cost
            pos -= q
        if leaves - q:
            open_orders[cid] = (side, leaves - q, limit)
        # Invariant: no sequence of approvals and fills takes cash or the position below zero.
        assert cash >= 0
        assert pos >= 0
    book = g.gate.state.book
    assert book.balances["sim"].get("USDT", Decimal(0)) == cash
    assert book.balances["sim"].get("BTC", Decimal(0)) == pos
    assert set(book.orders) == set(open_orders)


def test_every_reason_code_has_its_test_here() -> None:
    text = Path(__file__).read_text()
    untested = [name for name in checks.CODES if not re.search(rf"== checks\.{name}\b", text)]
    assert untested == []
