"""Quote Avellaneda-Stoikov on one instrument, from online estimates (kind `as_quoter`).

Market data in, keyed by the instrument: `Quote` (the mid is `(bid + ask) / 2`), `Tick` (its
price stands for the mid), `Trade` (its distance from the mid just before it). `sigma` comes from
the mids (`SigmaEstimator`), `A` and `k` from the trades (`IntensityEstimator`, refit on the
`refit_ms` timer, not per trade, so the cost is bounded and the refit times are journaled).

The readiness gate: until sigma's window is full and a first intensity fit succeeded, the actor
publishes nothing and sends no order. It then publishes `QuoterReady` once, and every `quote_ms`
(and after each of its fills, since the inventory moved) publishes a `QuoteUpdate` and moves its
two resting orders to the quote: a new order goes to the risk gate (`Trader.submit`), a changed
one to execution as a replace (`Trader.replace`: cancel, then the new order once the old is
done, so the two never rest at once). A side whose order is still in flight waits for the
venue's answer.

A refit that fails publishes `IntensityFitFailed` and logs `intensity_fit_failed` with the reason;
the last good estimate stays in force. Everything reads `ctx.now`, never the wall clock, so a
replay of the journal re-derives every quote. Formulas and units: docs/ml.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from agents.data.messages import Quote, Tick, Trade
from agents.execution.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    RequestCancel,
    VenueEvent,
)
from agents.ml.avellaneda import AvellanedaStoikovConfig, quote
from agents.ml.estimators import IntensityEstimator, IntensityState, SigmaEstimator, SigmaState
from agents.ml.messages import IntensityFitFailed, QuoterReady, QuoteUpdate
from agents.ml.trader import Trader, TraderConfig, TraderState, in_force, note_trading_state
from agents.risk.messages import OrderDenied
from runtime import TimerFired, TradingState, TradingStateChanged
from runtime.config import PositiveFloat, PositiveInt

__all__ = ["AsQuoter", "AsQuoterConfig", "AsQuoterState", "RestingQuote"]

MS = 1_000_000
REFIT = "as_quoter.refit"
QUOTE = "as_quoter.quote"
_NEVER = 2**62
"""`IntensityEstimator`'s own refit every N trades, turned off: the `refit_ms` timer refits."""
_ENDED = frozenset({"canceled", "filled", "rejected", "expired", "not_found"})


class AsQuoterConfig(TraderConfig, frozen=True, kw_only=True):
    """Params of kind `as_quoter`: where to trade, the model, the estimators, the cadence.

    Units: time in seconds (sigma per sqrt(second), `A` per second), distances and `k` in price
    units of the instrument, sizes in base units.
    """

    gamma: PositiveFloat = 0.01
    """Risk aversion, per price unit (per unit of normalised inventory)."""
    horizon: Literal["finite", "infinite"] = "finite"
    """`finite`: a rolling horizon of `horizon_secs` (T - t constant); `infinite`: the stationary
    variant (`omega`)."""
    horizon_secs: PositiveFloat = 10.0
    """T - t of the finite-horizon model: how long an inventory is expected to be held."""
    omega: PositiveFloat | None = None
    """Infinite-horizon discount; default `0.5 gamma^2 sigma^2 (q_max + 1)^2`."""
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("0.00001")
    order_size: Decimal = Decimal("0.001")
    max_inventory: Decimal = Decimal("0.01")
    """Position cap, base units: no quote on a side that would take |position| past it."""
    inventory_unit: Literal["orders", "max_inventory"] = "orders"
    min_spread: Decimal = Decimal(0)
    sigma_interval_ms: PositiveInt = 1000
    """Sampling grid of the mids for sigma (previous-tick)."""
    sigma_window: Annotated[int, Meta(ge=2)] = 60
    """Returns in sigma's window; warm once it is full."""
    bucket: PositiveFloat = 1.0
    """Spacing of the distance levels of the intensity fit, price units."""
    buckets: Annotated[int, Meta(ge=3)] = 20
    min_trades: Annotated[int, Meta(ge=2)] = 200
    """Trades before the first intensity fit."""
    max_trades: PositiveInt = 2000
    """Trades the intensity fit keeps (the latest)."""
    refit_ms: PositiveInt = 1000
    """Refit A and k this often (kernel time)."""
    quote_ms: PositiveInt = 250
    """Requote this often (and after every fill)."""
    obey_trading_state: bool = True
    """While a scope it trades in is REDUCING or HALTED, pull the quotes and send no orders
    (quote updates are still published)."""


class RestingQuote(msgspec.Struct, kw_only=True):
    """One side's order: what it asks, and whether it may be moved yet."""

    client_id: str
    price: Decimal
    qty: Decimal
    working: bool = False
    """The venue accepted it: it may be replaced. An order in flight waits for its answer."""
    canceling: bool = False
    replaced: RestingQuote | None = None
    """The order this one replaces, until the replacement is accepted (restored if refused)."""


class AsQuoterState(TraderState, kw_only=True):
    """The trading state, the estimators (at snapshot time), the mid and the two sides."""

    sigma: SigmaState | None = None
    intensity: IntensityState | None = None
    """The estimators, filled in by `snapshot` only; the live ones are on the actor."""
    mid: float | None = None
    book: bool = False
    """A `Quote` or `Tick` was seen: mids come from the book, not from trades."""
    last_buy: float | None = None
    last_sell: float | None = None
    """Last buyer- and seller-initiated prices: their midpoint is the mid with no book."""
    last_ts: int = 0
    trades: int = 0
    ready: bool = False
    fits: int = 0
    fit_failures: int = 0
    quotes: int = 0
    bid: RestingQuote | None = None
    ask: RestingQuote | None = None
    states: dict[str, TradingState] = msgspec.field(default_factory=dict)
    """Trading states other than ACTIVE in force for this strategy, by scope."""


class AsQuoter(Trader):
    """Estimate sigma, A and k online; once warm, quote AS and keep two orders on the quote."""

    Params = AsQuoterConfig
    params: AsQuoterConfig
    state: AsQuoterState

    def __init__(self, params: AsQuoterConfig | None = None) -> None:
        self.params = p = params or AsQuoterConfig()
        # The model with placeholder sigma and k: validates the grid now; each quote replaces
        # sigma and k with the estimates in force.
        self._model = AvellanedaStoikovConfig(
            gamma=p.gamma,
            sigma=0.0,
            k=1.0,
            tick_size=p.tick_size,
            lot_size=p.lot_size,
            order_size=p.order_size,
            max_inventory=p.max_inventory,
            horizon=p.horizon,
            end_time=p.horizon_secs,
            omega=p.omega,
            inventory_unit=p.inventory_unit,
            min_spread=p.min_spread,
        )
        self.state = AsQuoterState()
        self._build()

    def _build(self) -> None:
        st, p = self.state, self.params
        self.sigma = (
            SigmaEstimator.restore(st.sigma)
            if st.sigma is not None
            else SigmaEstimator(interval_ns=p.sigma_interval_ms * MS, window=p.sigma_window)
        )
        self.intensity = (
            IntensityEstimator.restore(st.intensity)
            if st.intensity is not None
            else IntensityEstimator(
                bucket=p.bucket,
                buckets=p.buckets,
                max_trades=p.max_trades,
                min_trades=p.min_trades,
                refit_every=_NEVER,
            )
        )
        st.sigma = st.intensity = None

    def snapshot(self) -> bytes | None:
        st = self.state
        st.sigma, st.intensity = self.sigma.snapshot(), self.intensity.snapshot()
        try:
            return super().snapshot()
        finally:
            st.sigma = st.intensity = None

    def restore(self, data: bytes, /) -> None:
        super().restore(data)
        self._build()

    def on_start(self) -> None:
        super().on_start()
        ctx, p = self.ctx, self.params
        for mtype in (Quote, Tick, Trade):
            ctx.subscribe(mtype, key=p.instrument)
        ctx.subscribe(TradingStateChanged)
        ctx.schedule(p.refit_ms * MS, key=REFIT, every=True)
        ctx.schedule(p.quote_ms * MS, key=QUOTE, every=True)

    # -- market data -------------------------------------------------------------------------

    def _clock(self) -> int:
        """Return `ctx.now`, never behind the last one (the estimators refuse time going back)."""
        st = self.state
        st.last_ts = ts = max(self.ctx.now, st.last_ts)
        return ts

    def _mid(self, mid: float, ts: int, /) -> None:
        self.state.mid = mid
        self.sigma.update(ts, mid)

    def on_quote(self, msg: Quote) -> None:
        if msg.bid <= 0 or msg.ask < msg.bid:
            return  # an empty or crossed book has no mid
        self.state.book = True
        self._mid(float((msg.bid + msg.ask) / 2), self._clock())

    def on_tick(self, msg: Tick) -> None:
        if msg.price > 0:
            self.state.book = True
            self._mid(float(msg.price), self._clock())

    def on_trade(self, msg: Trade) -> None:
        price = float(msg.price)
        if price <= 0:
            return
        st, ts = self.state, self._clock()
        mid = st.mid if st.book else self._proxy()  # the mid just before this trade
        if msg.side == "buy":
            st.last_buy = price
        elif msg.side == "sell":
            st.last_sell = price
        if not st.book and (proxy := self._proxy()) is not None:
            self._mid(proxy, ts)
        if mid is not None:
            self.intensity.update(ts, price, mid)
            st.trades += 1

    def _proxy(self) -> float | None:
        st = self.state
        if st.last_buy is None or st.last_sell is None:
            return None
        return (st.last_buy + st.last_sell) / 2.0

    # -- timers: refit, requote --------------------------------------------------------------

    def on_timer(self, msg: TimerFired) -> None:
        if msg.key == REFIT:
            self._refit()
        elif msg.key == QUOTE:
            self._quote()

    def _refit(self) -> None:
        st, ctx = self.state, self.ctx
        if st.trades < self.params.min_trades:
            return  # still warming up: nothing to fit yet, nothing failed
        ts = self._clock()
        res = self.intensity.fit(ts)
        if res.ok:
            st.fits += 1
        else:
            st.fit_failures += 1
            inst = self.params.instrument
            ctx.log.warning(
                "intensity_fit_failed", instrument=inst, reason=res.reason, trades=res.trades,
                span_secs=res.span_secs, A=res.A, k=res.k,
            )  # fmt: skip
            ctx.publish(
                IntensityFitFailed(
                    instrument=inst, reason=res.reason, trades=res.trades,
                    span_secs=res.span_secs, A=res.A, k=res.k, ts=ts,
                )
            )  # fmt: skip
        self._check_ready()

    def _check_ready(self) -> bool:
        st = self.state
        if st.ready:
            return True
        sigma, est = self.sigma.value(), self.intensity.estimate
        if sigma is None or est is None or st.mid is None or not self.intensity.ready:
            return False
        st.ready = True
        ts, (a, k) = self._clock(), est
        self.ctx.log.info(
            "quoter_ready", instrument=self.params.instrument, sigma=sigma * st.mid, A=a, k=k,
            trades=st.trades,
        )  # fmt: skip
        self.ctx.publish(
            QuoterReady(
                instrument=self.params.instrument, sigma=sigma * st.mid, A=a, k=k,
                trades=st.trades, ts=ts,
            )
        )  # fmt: skip
        return True

    def _quote(self) -> None:
        """Publish the quote for the mid and inventory now, and move the orders to it."""
        if not self._check_ready():
            return
        st, p = self.state, self.params
        sigma, est, mid = self.sigma.value(), self.intensity.estimate, st.mid
        # Ready stays ready: sigma's window stays full, the last good fit stays in force.
        assert sigma is not None
        assert est is not None
        assert mid is not None
        a, k = est
        model = msgspec.structs.replace(self._model, sigma=sigma * mid, k=k)
        try:
            q = quote(mid, st.position, 0.0, model)
        except ValueError as exc:  # e.g. an `omega` too small for this sigma
            self.ctx.log.warning("quote_failed", instrument=p.instrument, error=str(exc))
            return
        st.quotes += 1
        self.ctx.publish(
            QuoteUpdate(
                instrument=p.instrument, bid=q.bid, ask=q.ask, bid_size=q.bid_size,
                ask_size=q.ask_size, mid=mid, reservation=q.reservation, spread=q.spread,
                sigma=sigma * mid, A=a, k=k, inventory=st.position, ts=self._clock(),
            )
        )  # fmt: skip
        if p.obey_trading_state and self._in_force() > 0:
            self._work("buy", None, Decimal(0))
            self._work("sell", None, Decimal(0))
            return
        self._work("buy", q.bid, q.bid_size)
        self._work("sell", q.ask, q.ask_size)

    # -- orders ------------------------------------------------------------------------------

    def _side(self, side: str, /) -> RestingQuote | None:
        return self.state.bid if side == "buy" else self.state.ask

    def _set(self, side: str, slot: RestingQuote | None, /) -> None:
        if side == "buy":
            self.state.bid = slot
        else:
            self.state.ask = slot

    def _work(self, side: Literal["buy", "sell"], price: Decimal | None, size: Decimal) -> None:
        """Bring one side to (price, size): submit, replace, cancel, or leave it."""
        slot = self._side(side)
        if slot is not None and (not slot.working or slot.canceling):
            return  # in flight: wait for the venue's answer before moving it again
        if price is None or size <= 0:
            if slot is not None:
                slot.canceling = True
                self.ctx.send(
                    self.params.execution,
                    RequestCancel(
                        client_id=slot.client_id, strategy=self.ctx.name, reason="unquoted"
                    ),
                )
            return
        if slot is None:
            self._set(
                side, RestingQuote(client_id=self.submit(side, size, price), price=price, qty=size)
            )
            return
        if slot.price == price and slot.qty == size:
            return
        if slot.client_id not in self.state.open:  # ended; its event is on the way
            return
        new_id = self.replace(slot.client_id, size, price, reason="requote")
        self._set(side, RestingQuote(client_id=new_id, price=price, qty=size, replaced=slot))

    def on_venue_event(self, msg: VenueEvent) -> None:
        super().on_venue_event(msg)  # position and open orders
        cid = msg.client_id
        if isinstance(msg, OrderAccepted):
            self._working(cid)
        elif isinstance(msg, OrderFilled):
            if msg.leaves_qty <= 0:
                self._ended(cid)
            self._quote()  # the inventory moved: requote now, not at the next timer
        elif isinstance(msg, OrderCanceled | OrderRejected | OrderExpired):
            self._ended(cid)
        elif isinstance(msg, OrderStatusReport):  # execution asked after a lost answer
            if msg.status == "open":
                self._working(cid)
            elif msg.status in _ENDED:
                self._ended(cid)

    def on_denied(self, msg: OrderDenied) -> None:
        super().on_denied(msg)
        if msg.strategy == self.ctx.name:
            self._ended(msg.client_id)

    def _working(self, client_id: str, /) -> None:
        for side in ("buy", "sell"):
            slot = self._side(side)
            if slot is not None and slot.client_id == client_id:
                slot.working = True
                slot.replaced = None

    def _ended(self, client_id: str, /) -> None:
        """Forget an order that no longer rests; a refused replacement gives the old one back."""
        for side in ("buy", "sell"):
            slot = self._side(side)
            if slot is None:
                continue
            if slot.client_id == client_id:
                back = slot.replaced
                keep = back is not None and back.client_id in self.state.open
                self._set(side, back if keep else None)
            elif slot.replaced is not None and slot.replaced.client_id == client_id:
                slot.replaced = None  # the old order of a replace is done; the new one follows

    # -- the gate's announcements ------------------------------------------------------------

    def on_trading_state(self, msg: TradingStateChanged) -> None:
        p = self.params
        note_trading_state(
            self.state.states, msg, venue=p.venue, instrument=p.instrument, me=self.ctx.name
        )

    def _in_force(self) -> int:
        return in_force(self.state.states)
