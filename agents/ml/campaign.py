"""Wire the campaign strategy: bars in, a target position per bar, orders through risk.

Kind `campaign`: a long-only, spot, directional strategy. Per bar it feeds the close to the
signal (`campaign_logic.CampaignSignal`), lets the level logic decide (enter, scale out, scale
back in, exit), and moves its position towards the campaign's target with at most one order at
a time, as `OrderIntent`s to the risk gate like every strategy (`Trader`). The cash it may spend
is its own, counted exactly from its fills, so it never asks for leverage; sells are
`reduce_only` and never exceed the position, so they pass while the gate is REDUCING and never
go short.

It listens to the gate: `DrawdownTierChanged` scales its per-order cap and new campaign sizes by
the tier's `size_multiplier`; while a matching scope is REDUCING it only sells, while HALTED it
sends nothing (`obey_trading_state`; off, it keeps asking and the gate keeps refusing). A refused
intent backs off `retry_bars` before the next try, so a refusal is not re-sent every bar.

Records and the report are in `campaign_book`; definitions in docs/ml.md ("Campaign strategy").
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.data.messages import Bar
from agents.execution.messages import OrderFilled, RequestCancel
from agents.ml.campaign_book import (
    MAX_CAMPAIGNS,
    Action,
    CampaignEnded,
    CampaignRecord,
    CampaignReport,
    CampaignStep,
    records_csv,
)
from agents.ml.campaign_logic import (
    ZERO,
    CampaignModelConfig,
    CampaignSignal,
    CampaignSignalState,
    campaign_size,
    floor_to,
    fraction_at,
    next_level,
    order_for,
)
from agents.ml.trader import Trader, TraderConfig, TraderState, in_force, note_trading_state
from agents.risk.messages import DrawdownTierChanged, OrderDenied, OrderIntent
from runtime import TradingState, TradingStateChanged
from runtime.config import NonNegativeInt

_ONE = Decimal(1)


class CampaignConfig(TraderConfig, frozen=True, kw_only=True):
    """Params of kind `campaign`: where to trade, the starting cash, and the model."""

    cash: Decimal = Decimal(100_000)
    """The quote asset the strategy may spend (its share of the venue balance the gate knows)."""
    model: CampaignModelConfig = CampaignModelConfig()
    obey_trading_state: bool = True
    """Stop buying while REDUCING and stop sending while HALTED, instead of letting the gate
    refuse; off, the strategy asks regardless (tests of the gate use that)."""
    retry_bars: NonNegativeInt = 30
    """Bars to wait after a refused intent before sending another."""

    def __post_init__(self) -> None:
        if not self.cash >= 0:
            raise ValueError(f"`cash` must be >= 0, got {self.cash}")


class CampaignState(TraderState, kw_only=True):
    """The trading state, the cash, the signal, the campaign in progress and the closed ones."""

    cash: Decimal = ZERO
    bars: int = 0
    last_close: Decimal = ZERO
    signal: CampaignSignalState | None = None
    """Written on snapshot only (the live signal is an object; see `Campaign.snapshot`)."""
    level: int = 0
    exiting: bool = False
    current: CampaignRecord | None = None
    closed: list[CampaignRecord] = msgspec.field(default_factory=list)
    started: int = 0
    dropped: int = 0
    retry_at: int = 0
    """The bar number from which a new intent may be sent after a refusal."""
    cancels: list[str] = msgspec.field(default_factory=list)
    """Client ids whose cancel was requested (sent once each)."""
    states: dict[str, TradingState] = msgspec.field(default_factory=dict)
    """Non-ACTIVE trading states announced for the scopes this strategy trades in."""
    multiplier: Decimal = _ONE


class Campaign(Trader):
    """Run one campaign at a time on one instrument; long only, sized by volatility."""

    Params = CampaignConfig
    params: CampaignConfig
    state: CampaignState

    def __init__(self, params: CampaignConfig | None = None) -> None:
        self.params = params or CampaignConfig()
        self.state = CampaignState(cash=self.params.cash)
        self._signal = CampaignSignal(self.params.model)

    def snapshot(self) -> bytes | None:
        self.state.signal = self._signal.snapshot()
        return super().snapshot()

    def restore(self, data: bytes, /) -> None:
        super().restore(data)
        self._signal = CampaignSignal(self.params.model, self.state.signal)

    def on_start(self) -> None:
        super().on_start()
        ctx = self.ctx
        ctx.subscribe(Bar, key=self.params.instrument)
        ctx.subscribe(TradingStateChanged)
        ctx.subscribe(DrawdownTierChanged)

    # -- the gate's announcements -------------------------------------------------------------

    def on_trading_state(self, msg: TradingStateChanged) -> None:
        p = self.params
        note_trading_state(
            self.state.states, msg, venue=p.venue, instrument=p.instrument, me=self.ctx.name
        )

    def on_tier(self, msg: DrawdownTierChanged) -> None:
        self.state.multiplier = msg.size_multiplier

    def _in_force(self) -> int:
        return in_force(self.state.states)

    def on_denied(self, msg: OrderDenied) -> None:
        super().on_denied(msg)
        if msg.strategy == self.ctx.name:
            self.state.retry_at = self.state.bars + self.params.retry_bars

    # -- bars: decide, then trade -------------------------------------------------------------

    def on_bar(self, msg: Bar) -> None:
        st = self.state
        st.bars += 1
        close = msg.close
        st.last_close = close
        strength = self._signal.update(float(close))
        if strength is not None:
            self._decide(strength, close)
        self._maybe_close()
        if st.open:
            self._cancel_open()
        elif st.current is not None and st.bars >= st.retry_at:
            self._trade(close)

    def _decide(self, strength: float, close: Decimal) -> None:
        st = self.state
        model = self.params.model
        cur = st.current
        if cur is None:
            if strength < model.entry_strength or (
                self.params.obey_trading_state and self._in_force() > 0
            ):
                return
            sigma = self._signal.sigma
            equity = st.cash + st.position * close
            size = campaign_size(equity, close, sigma or 0.0, model, multiplier=st.multiplier)
            if size * close < model.min_notional:
                return  # too small to trade: no campaign
            st.started += 1
            cur = st.current = CampaignRecord(
                number=st.started,
                start_ns=self.ctx.now,
                entry_strength=strength,
                entry_close=close,
                size=size,
            )
            st.level = 0
            st.exiting = False
            self._step("entry", strength, 1.0, close)
            return
        if st.exiting:
            return
        ratio = strength / cur.entry_strength
        level = next_level(st.level, ratio, model)
        if level is None:
            st.exiting = True
            self._step("exit", strength, ratio, close)
        elif level != st.level:
            up = level < st.level
            st.level = level
            if up:
                cur.re_entries += 1
            else:
                cur.partial_exits += 1
            self._step("scale_in" if up else "scale_out", strength, ratio, close)

    def _step(self, action: Action, strength: float, ratio: float, close: Decimal) -> None:
        st = self.state
        cur = st.current
        assert cur is not None
        fraction = ZERO if st.exiting else fraction_at(st.level, self.params.model)
        cur.steps.append(
            CampaignStep(
                ts=self.ctx.now,
                action=action,
                strength=strength,
                ratio=ratio,
                fraction=fraction,
                target=self._target(),
                close=close,
            )
        )

    def _target(self) -> Decimal:
        st = self.state
        cur = st.current
        if cur is None or st.exiting:
            return ZERO
        model = self.params.model
        return floor_to(cur.size * fraction_at(st.level, model), model.lot)

    def _trade(self, close: Decimal) -> None:
        st = self.state
        p = self.params
        severity = self._in_force() if p.obey_trading_state else 0
        if severity >= 2:
            return
        target = self._target()
        order = order_for(
            target,
            st.position,
            st.cash,
            close,
            p.model,
            multiplier=st.multiplier,
            final=st.exiting,
        )
        if order is None:
            return
        side, qty, price = order
        if side == "buy" and severity >= 1:
            return
        self._send(side, qty, price)

    def _send(self, side: str, qty: Decimal, price: Decimal) -> None:
        """Submit like `Trader.submit`, marking sells `reduce_only` (they pass while REDUCING)."""
        st = self.state
        p = self.params
        client_id = f"{self.ctx.name}-{st.next_id}"
        st.next_id += 1
        st.orders += 1
        st.open[client_id] = side
        self.ctx.send(
            p.risk,
            OrderIntent(
                client_id=client_id,
                strategy=self.ctx.name,
                venue=p.venue,
                instrument=p.instrument,
                side="buy" if side == "buy" else "sell",
                qty=qty,
                price=price,
                reduce_only=side == "sell",
            ),
        )

    def _cancel_open(self) -> None:
        """Cancel orders that rested past their bar (each cancel sent once)."""
        st = self.state
        sent = set(st.cancels)
        for client_id in st.open:
            if client_id not in sent:
                st.cancels.append(client_id)
                self.ctx.send(
                    self.params.execution,
                    RequestCancel(
                        client_id=client_id, strategy=self.ctx.name, reason="rested past its bar"
                    ),
                )
        st.cancels = [c for c in st.cancels if c in st.open]

    # -- fills and the end of a campaign ------------------------------------------------------

    def after_fill(self, msg: OrderFilled) -> None:
        st = self.state
        value = msg.qty * msg.price
        if msg.side == "buy":
            st.cash -= value + msg.fee
        else:
            st.cash += value - msg.fee
        # Invariant: the strategy never spends cash it does not have, nor sells what it lacks.
        assert st.cash >= 0, f"`cash` went negative: {st.cash}"
        assert st.position >= 0, f"`position` went negative: {st.position}"
        if st.current is not None:
            st.current.fill(msg.side, msg.qty, msg.price, msg.fee)
        self._maybe_close()

    def _maybe_close(self) -> None:
        st = self.state
        cur = st.current
        if cur is None or not st.exiting or st.open:
            return
        if st.position * st.last_close >= self.params.model.min_notional and (
            st.position >= self.params.model.lot
        ):
            return  # still holding more than dust
        cur.end_ns = self.ctx.now
        cur.mark(st.last_close)
        st.current = None
        st.exiting = False
        st.level = 0
        if len(st.closed) < MAX_CAMPAIGNS:
            st.closed.append(cur)
        else:
            st.dropped += 1
        # Invariant: a closed record is never mutated again (the journal encodes it later).
        self.ctx.publish(
            CampaignEnded(strategy=self.ctx.name, instrument=self.params.instrument, campaign=cur)
        )

    def on_stop(self) -> None:
        self.ctx.publish(self.report())

    def report(self) -> CampaignReport:
        """Sum up the campaigns so far (the open one marked at the last close)."""
        st = self.state
        records = self.records()
        closed = st.closed
        open_pnl = st.current.mark(st.last_close) if st.current is not None else ZERO
        return CampaignReport(
            strategy=self.ctx.name,
            instrument=self.params.instrument,
            bars=st.bars,
            campaigns=st.started,
            closed=len(closed) + st.dropped,
            open=st.current is not None,
            partial_exits=sum(r.partial_exits for r in records),
            re_entries=sum(r.re_entries for r in records),
            with_partial_exit=sum(1 for r in records if r.partial_exits),
            with_re_entry=sum(1 for r in records if r.re_entries),
            winners=sum(1 for r in closed if r.pnl > 0),
            realized_pnl=sum((r.pnl for r in closed), ZERO),
            open_pnl=open_pnl,
            fees=sum((r.fees for r in records), ZERO),
            cash=st.cash,
            position=st.position,
            denied=st.denied,
            dropped=st.dropped,
        )

    def records(self) -> list[CampaignRecord]:
        """Return every kept campaign record, the open one last."""
        st = self.state
        return [*st.closed, *([st.current] if st.current is not None else [])]

    def artifacts(self) -> dict[str, bytes]:
        """Return `campaigns.json` (every record with its steps) and `campaigns.csv`."""
        records = self.records()
        body = msgspec.json.format(msgspec.json.encode(records), indent=2) + b"\n"
        return {"campaigns.json": body, "campaigns.csv": records_csv(records)}
