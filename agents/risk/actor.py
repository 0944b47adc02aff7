"""Wire the pre-trade gate: every order passes it, and every denial names its rule.

The gate judges each `OrderIntent` synchronously against the trading states and the rules of
`agents.risk.checks`, and answers `OrderApproved` or `OrderDenied(code, detail)`. To judge money
it keeps its own exposure book (`agents.risk.book`), fed by the venues' order events, and marks
from market data; drawdown tiers (`agents.risk.drawdown`) read equity on every mark and move the
global trading state. Rate throttles run on the kernel clock. All of it lives in the gate's
state struct, so snapshots, restarts and replay see the same gate.

A gate with no params enforces the trading states only and subscribes to nothing else: the
daemon's default profile pays nothing for rules it does not use.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.data.messages import Bar, Quote, Tick, Trade
from agents.execution.messages import OrderCanceled, OrderExpired, OrderFilled, OrderRejected
from agents.risk import checks as c
from agents.risk.book import ExposureBook
from agents.risk.checks import Denial
from agents.risk.config import InstrumentRules, RateLimitConfig, RiskGateConfig
from agents.risk.drawdown import DrawdownTracker, resolve
from agents.risk.messages import (
    CancelOpenOrders,
    DrawdownTierChanged,
    DrawdownTransition,
    OrderApproved,
    OrderDenied,
    OrderIntent,
    PaperGuardChanged,
    RiskReport,
    SetPaperGuard,
    SetTradingState,
)
from agents.risk.states import SEVERITY, TradingStates
from agents.risk.throttle import RateWindow, check_rate
from runtime import Actor, TradingScope, TradingState, TradingStateChanged

__all__ = ["RiskGate", "RiskGateConfig", "RiskGateState"]

_ONE = Decimal(1)
_BPS = Decimal(10_000)
_TWO = Decimal(2)
_ZERO = Decimal(0)
DRAWDOWN = "risk:drawdown"
"""The `by` of every state change the drawdown tiers make."""


class RiskGateState(msgspec.Struct, kw_only=True):
    """What the gate persists: states, guard, counters, the book, marks, throttles, drawdown."""

    trading: TradingStates = msgspec.field(default_factory=TradingStates)
    paper_only: bool = True
    approved: int = 0
    denied: int = 0
    denials: dict[str, int] = msgspec.field(default_factory=dict)
    """Denials per reason code."""
    book: ExposureBook = msgspec.field(default_factory=ExposureBook)
    marks: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """The last price per instrument (bar close, tick or trade price, quote mid)."""
    seen: dict[str, int] = msgspec.field(default_factory=dict)
    """Kernel time (ns) of each instrument's last market data."""
    asset_marks: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """The mark per asset in the equity asset (from `<asset>/<equity_asset>`)."""
    submits: dict[str, RateWindow] = msgspec.field(default_factory=dict)
    modifies: dict[str, RateWindow] = msgspec.field(default_factory=dict)
    drawdown: DrawdownTracker = msgspec.field(default_factory=DrawdownTracker)


class RiskGate(Actor):
    """Judge every `OrderIntent`; keep the book, marks and tiers; apply operator commands."""

    Params = RiskGateConfig

    def __init__(self, params: RiskGateConfig | None = None) -> None:
        p = self.params = params or RiskGateConfig()
        self.state = RiskGateState(paper_only=p.paper_only, book=ExposureBook.starting(p.balances))
        self._rules: dict[str, InstrumentRules] = {}
        self._tiers = resolve(p.drawdown_tiers)
        self._leverage = bool(p.balances)
        self._track = (
            self._leverage
            or p.max_exposure_total is not None
            or any(
                i.max_inventory is not None or i.max_exposure is not None
                for i in p.instruments.values()
            )
        )
        self._fee = _ONE + p.fee_bound_bps / _BPS
        self._market_up = _ONE + p.market_buffer_bps / _BPS
        bps = p.price_band_bps
        self._band = (bps / _BPS, bps) if bps is not None else None
        self._stale_ns = p.stale_after_ms * 1_000_000 if p.stale_after_ms is not None else None
        self._submit = _rate(p.submit_rate)
        self._modify = _rate(p.modify_rate)
        self._marks_on = (
            self._track
            or self._band is not None
            or self._stale_ns is not None
            or p.max_order_notional is not None
            or any(
                i.min_notional is not None or i.max_order_notional is not None
                for i in p.instruments.values()
            )
        )
        # No rule beyond the trading states is configured: the pre-#5 gate, at its cost.
        self._simple = not (
            self._marks_on
            or self._submit is not None
            or self._modify is not None
            or any(
                i.tick is not None or i.lot is not None or i.max_order_qty is not None
                for i in p.instruments.values()
            )
        )

    def on_start(self) -> None:
        ctx = self.ctx
        ctx.subscribe(SetTradingState)
        ctx.subscribe(SetPaperGuard)
        ctx.subscribe(OrderIntent)
        # A state announced by someone else counts too: the kernel's kill switch when a risk or
        # execution actor escalates, SIGUSR1 (the kill switch without HTTP).
        ctx.subscribe(TradingStateChanged)
        if self._marks_on:
            for mtype in (Bar, Tick, Trade, Quote):
                ctx.subscribe(mtype)
        if self._track:
            for vtype in (OrderFilled, OrderCanceled, OrderRejected, OrderExpired):
                ctx.subscribe(vtype)

    def on_stop(self) -> None:
        st = self.state
        dd = st.drawdown
        self.ctx.publish(
            RiskReport(
                gate=self.ctx.name,
                approved=st.approved,
                denied=st.denied,
                denials=dict(sorted(st.denials.items())),
                tier=dd.tier,
                transitions=list(dd.transitions),
                transitions_dropped=dd.dropped,
                equity=dd.equity,
                peak_equity=dd.high,
                max_drawdown_pct=dd.max_drawdown_pct,
            )
        )

    # -- operator commands and states -------------------------------------------------------

    def on_set_state(self, msg: SetTradingState) -> None:
        self._apply(msg.scope, msg.target, msg.state, msg.reason, msg.by)
        if msg.scope == "global" and msg.state == "ACTIVE" and self._tiers:
            step = self.state.drawdown.resume(self.ctx.now, msg.by)
            if step is not None:
                self._announce_tier(step)

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

    # -- the verdict -------------------------------------------------------------------------

    def on_intent(self, msg: OrderIntent) -> None:
        ctx = self.ctx
        env = ctx.current
        actor = env.src if env is not None else ""
        st = self.state
        trading = st.trading
        in_force = (
            trading.in_force(
                venue=msg.venue, instrument=msg.instrument, strategy=msg.strategy, actor=actor
            )
            if trading.states
            else "ACTIVE"
        )
        denial: Denial | None
        if in_force == "HALTED":
            denial = c.HALTED, "trading is halted for this order's scope"
        elif in_force == "REDUCING" and not msg.reduce_only:
            denial = c.REDUCING_ONLY, "only position-reducing orders pass while REDUCING"
        elif msg.qty <= _ZERO:
            denial = c.QTY_NOT_POSITIVE, f"`qty` must be > 0, got {msg.qty}"
        elif msg.price is not None and msg.price <= _ZERO:
            denial = c.PRICE_NOT_POSITIVE, f"`price` must be > 0, got {msg.price}"
        elif self._simple:
            denial = None
        else:
            denial = self._admit(msg, in_force, actor, ctx.now)
        if denial is None:
            st.approved += 1
            ctx.publish(OrderApproved(intent=msg))
        else:
            self._deny(msg, *denial)

    def _admit(self, msg: OrderIntent, in_force: str, actor: str, now: int) -> Denial | None:
        """Check every configured rule; when all pass, take the reservation and the rate slot."""
        instrument = msg.instrument
        rules = self._rules.get(instrument) or self._resolve(instrument)
        st = self.state
        qty = msg.qty
        price = msg.price
        buy = msg.side == "buy"
        if rules.lot is not None and (d := c.check_lot(qty, rules.lot)):
            return d
        if price is not None and rules.tick is not None and (d := c.check_tick(price, rules.tick)):
            return d
        if self._stale_ns is not None and (
            d := c.check_stale(instrument, now, st.seen.get(instrument), self._stale_ns)
        ):
            return d
        mark = st.marks.get(instrument)
        value = price if price is not None else mark
        if price is None and mark is None and rules.values_orders:
            return c.NO_MARK, f"no mark for `{instrument}` to value a market order"
        band = self._band
        if price is not None and band is not None:
            if mark is None:
                return c.NO_MARK, f"no mark for `{instrument}` to check the price band"
            if d := c.check_price_band(price, mark, *band):
                return d
        if rules.sizes and (d := self._size(rules, qty, value)):
            return d
        if self._track and (d := self._exposure(msg, rules, in_force, value, mark, buy)):
            return d
        limit = self._modify if msg.replaces else self._submit
        if limit is not None:
            count, window_ns, per = limit
            windows = st.modifies if msg.replaces else st.submits
            key = _rate_key(per, msg, actor)
            window = windows.get(key)
            if window is None:
                window = windows[key] = RateWindow()
            what = "modify" if msg.replaces else "submit"
            code = c.RATE_MODIFY if msg.replaces else c.RATE_SUBMIT
            if d := check_rate(window, now, count, window_ns, code, what):
                return d
            window.record(now, count)
        if self._track:
            # Invariant: rules.base and rules.quote are set (checked in `_exposure`).
            assert rules.base is not None
            assert rules.quote is not None
            if buy and value is not None:
                unit = (value if price is not None else value * self._market_up) * self._fee
            else:
                unit = _ONE if not buy else _ZERO
            st.book.reserve(msg.client_id, msg.venue, msg.side, rules.base, rules.quote, qty, unit)
        return None

    def _size(self, rules: InstrumentRules, qty: Decimal, value: Decimal | None) -> Denial | None:
        """Check the order's own size: min notional, max qty and notional, the drawdown cut."""
        mult = self.state.drawdown.multiplier(self._tiers) if self._tiers else None
        limit = rules.max_order_qty
        if limit is not None:
            if d := c.check_max(c.MAX_ORDER_QTY, "`qty`", qty, limit):
                return d
            if mult is not None and (
                d := c.check_drawdown_size("`qty`", qty, limit, mult, self.state.drawdown.tier)
            ):
                return d
        if value is None:
            return None
        notional = qty * value
        if rules.min_notional is not None and (
            d := c.check_min_notional(notional, rules.min_notional)
        ):
            return d
        limit = rules.max_order_notional
        if limit is not None:
            if d := c.check_max(c.MAX_ORDER_NOTIONAL, "notional", notional, limit):
                return d
            if mult is not None and (
                d := c.check_drawdown_size(
                    "notional", notional, limit, mult, self.state.drawdown.tier
                )
            ):
                return d
        return None

    def _exposure(
        self,
        msg: OrderIntent,
        rules: InstrumentRules,
        in_force: str,
        value: Decimal | None,
        mark: Decimal | None,
        buy: bool,
    ) -> Denial | None:
        """Check the order against the book: no leverage, REDUCING, inventory and exposure."""
        base, quote = rules.base, rules.quote
        if base is None or quote is None:
            return c.UNKNOWN_INSTRUMENT, (
                f"`instrument` {msg.instrument!r} names no base/quote asset; "
                f"set them under `instruments`"
            )
        book = self.state.book
        if msg.client_id in book.orders:
            return c.DUPLICATE_CLIENT_ID, f"`client_id` {msg.client_id!r} is already open"
        qty = msg.qty
        if self._leverage:
            if in_force == "REDUCING" and (d := c.check_reducing(msg.side)):
                return d
            # `check_cash` and `check_position` decide on one comparison, made here first.
            if buy:
                # Invariant: value is set for a buy when balances are known (values_orders).
                assert value is not None
                px = value if msg.price is not None else value * self._market_up
                cost = qty * px * self._fee
                free = book.free(msg.venue, quote)
                if cost > free:
                    return c.check_cash(cost, free, quote, msg.venue)
            else:
                free = book.free(msg.venue, base)
                if qty > free:
                    return c.check_position(qty, free, base, msg.venue)
        if not buy:
            return None  # a spot sell only ever lowers inventory and exposure
        cap = self.params.max_exposure_total
        if rules.max_inventory is None and rules.max_exposure is None and cap is None:
            return None  # no rule below applies
        inventory = book.inventory(base)
        if rules.max_inventory is not None and (
            d := c.check_inventory(inventory + qty, rules.max_inventory, base)
        ):
            return d
        if value is None:
            return None
        if rules.max_exposure is not None:
            held = inventory * (mark if mark is not None else value)
            if d := c.check_exposure(
                c.EXPOSURE_INSTRUMENT,
                f"exposure to `{msg.instrument}`",
                held + qty * value,
                rules.max_exposure,
            ):
                return d
        if cap is not None:
            return self._total_exposure(base, quote, qty, value, cap)
        return None

    def _total_exposure(
        self, base: str, quote: str, qty: Decimal, value: Decimal, cap: Decimal
    ) -> Denial | None:
        """Check every held and pending asset plus this buy, valued in the equity asset.

        The order's own base asset, unmarked, is valued at the order's price.
        """
        st = self.state
        equity_asset = self.params.equity_asset
        marks = st.asset_marks
        rate = _ONE
        if quote != equity_asset:
            quoted = marks.get(quote)
            if quoted is None:
                return c.NO_MARK, f"no mark to value `{quote}` in `{equity_asset}`"
            rate = quoted
        total = qty * value * rate
        book = st.book
        for asset in book.holdings.keys() | book.pending_buys.keys():
            if asset == equity_asset:
                continue
            units = book.inventory(asset)
            if units:
                mark = marks.get(asset)
                if mark is None:
                    if asset != base:
                        return c.NO_MARK, f"no mark to value `{asset}` in `{equity_asset}`"
                    mark = value * rate
                total += units * mark
        return c.check_exposure(c.EXPOSURE_TOTAL, "total exposure", total, cap)

    def _deny(self, msg: OrderIntent, code: str, detail: str) -> None:
        st = self.state
        st.denied += 1
        st.denials[code] = st.denials.get(code, 0) + 1
        self.ctx.publish(
            OrderDenied(client_id=msg.client_id, strategy=msg.strategy, code=code, detail=detail)
        )

    def _resolve(self, instrument: str, /) -> InstrumentRules:
        rules = self._rules[instrument] = self.params.rules_for(instrument)
        return rules

    # -- the book: venue events ---------------------------------------------------------------

    def on_filled(self, msg: OrderFilled) -> None:
        rules = self._rules.get(msg.instrument) or self._resolve(msg.instrument)
        if rules.base is None or rules.quote is None:
            self.ctx.log.warning("fill_of_unknown_instrument", instrument=msg.instrument)
            return
        self.state.book.fill(
            msg.client_id,
            msg.venue,
            msg.side,
            rules.base,
            rules.quote,
            msg.qty,
            msg.price,
            msg.fee,
            msg.fee_asset,
            msg.leaves_qty,
        )

    def on_canceled(self, msg: OrderCanceled) -> None:
        self.state.book.close(msg.client_id)

    def on_rejected(self, msg: OrderRejected) -> None:
        self.state.book.close(msg.client_id)

    def on_expired(self, msg: OrderExpired) -> None:
        self.state.book.close(msg.client_id)

    # -- marks and drawdown -------------------------------------------------------------------

    def on_bar(self, msg: Bar) -> None:
        self._mark(msg.instrument, msg.close)

    def on_tick(self, msg: Tick) -> None:
        self._mark(msg.instrument, msg.price)

    def on_trade(self, msg: Trade) -> None:
        self._mark(msg.instrument, msg.price)

    def on_quote(self, msg: Quote) -> None:
        if msg.bid > 0 and msg.ask > 0:
            self._mark(msg.instrument, (msg.bid + msg.ask) / _TWO)

    def _mark(self, instrument: str, price: Decimal, /) -> None:
        if price <= _ZERO:
            return
        st = self.state
        st.marks[instrument] = price
        st.seen[instrument] = self.ctx.now
        rules = self._rules.get(instrument) or self._resolve(instrument)
        if rules.quote == self.params.equity_asset and rules.base is not None:
            st.asset_marks[rules.base] = price
            if self._tiers:
                self._observe()

    def _observe(self) -> None:
        """Read equity; when it moves the tier, announce it and tighten the global state."""
        st = self.state
        equity = st.book.equity(self.params.equity_asset, st.asset_marks)
        if equity is None:
            return  # an asset held has no mark yet: equity is not known
        step = st.drawdown.observe(equity, self.ctx.now, self._tiers)
        if step is None:
            return
        self._announce_tier(step)
        tier = self._tiers[step.to_tier - 1]
        current = st.trading.states.get("global", "ACTIVE")
        if SEVERITY[tier.state] > SEVERITY[current]:
            reason = (
                f"drawdown {step.drawdown_pct}% from peak {step.peak} reached tier "
                f"{tier.number} (at {tier.at_pct}%)"
            )
            self._apply("global", "*", tier.state, reason, DRAWDOWN)

    def _announce_tier(self, step: DrawdownTransition) -> None:
        tier = self._tiers[step.to_tier - 1] if step.to_tier else None
        self.ctx.publish(
            DrawdownTierChanged(
                tier=step.to_tier,
                state=tier.state if tier is not None else "ACTIVE",
                size_multiplier=tier.size_multiplier if tier is not None else _ONE,
                equity=step.equity,
                peak=step.peak,
                drawdown_pct=step.drawdown_pct,
            )
        )


def _rate(limit: RateLimitConfig | None, /) -> tuple[int, int, str] | None:
    """Return a rate limit as (count, window in ns, per), or None when off."""
    if limit is None:
        return None
    return limit.count, limit.window_ms * 1_000_000, limit.per


def _rate_key(per: str, msg: OrderIntent, actor: str, /) -> str:
    """Return the key of the window an order counts against."""
    if per == "strategy":
        return msg.strategy
    if per == "venue":
        return msg.venue
    if per == "instrument":
        return msg.instrument
    if per == "actor":
        return actor
    return "*"
