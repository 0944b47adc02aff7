"""Wire execution: approved intents become venue commands; venue events move the order states.

Execution is the one place that knows where an order rests and what state it is in. It turns an
`OrderApproved` into a write-ahead `SubmitOrder` for the intent's venue (the client id, chosen
deterministically by the strategy, is the idempotency key), a strategy's `RequestCancel` into a
`CancelOrder`, and the risk gate's `CancelOpenOrders` into a cancel for every open order in the
halted scope. Venue events drive each order through `orders.TRANSITIONS`; an event the table
refuses is logged and counted, never applied.

Silence is handled without guessing (`timeouts.py`): an overdue ack or cancel confirmation makes
execution ask the venue (`QueryOrder`); only the venue's `not_found` lets it resubmit, under the
same client id, with backoff and a bound. A `RequestReplace` goes through the risk gate as an
intent with `replaces` set; once approved the old order is cancelled and the new one sent when
the old is done, smaller by whatever the old filled meanwhile. At a run's start, and when the
kernel announces `Resumed` after a restart, execution asks each configured venue for its open
orders and balances and reports the differences (`reconcile.py`) against the books (the ledger's
`Balances` of the venue).

Only open orders stay in the state (a long backtest places hundreds of thousands); finished ones
live on in the journal, where the read models find them.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.execution.messages import (
    Balances,
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    QueryOrder,
    ReconcileRequest,
    ReconciliationReport,
    RequestCancel,
    RequestReplace,
    SubmitOrder,
    VenueEvent,
    VenueSnapshot,
)
from agents.execution.orders import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransitionError,
    Order,
    OrderEvent,
    Waiting,
)
from agents.execution.reconcile import compare_balances, compare_orders
from agents.execution.timeouts import MS, TimeoutConfig, Verdict, backoff_ns, judge
from agents.risk.messages import CancelOpenOrders, OrderApproved, OrderDenied, OrderIntent
from runtime import Actor, ConfigBase, EffectFailed, Resumed, TimerFired
from runtime import Balances as LedgerBalances
from runtime.config import PositiveFloat

ZERO = Decimal(0)

# Codes of the `OrderRejected` execution publishes itself (the venue never had the order).
SUBMIT_UNCONFIRMED = "EXEC_SUBMIT_UNCONFIRMED"
NOT_AT_VENUE = "EXEC_NOT_AT_VENUE"
REPLACE_NOT_OPEN = "EXEC_REPLACE_NOT_OPEN"
REPLACE_PENDING = "EXEC_REPLACE_PENDING"
REPLACE_ILLEGAL = "EXEC_REPLACE_ILLEGAL"
REPLACE_FILLED = "EXEC_REPLACE_FILLED"
REPLACE_CANCEL_FAILED = "EXEC_REPLACE_CANCEL_FAILED"
DUPLICATE_CLIENT_ID = "EXEC_DUPLICATE_CLIENT_ID"


class ExecutionConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of kind `execution`: timeouts, where replaces go, what to reconcile at start."""

    risk: str = "risk"
    """The risk gate's actor name: a `RequestReplace` goes there as an intent."""
    timeouts: TimeoutConfig = TimeoutConfig()
    reconcile_venues: list[str] = msgspec.field(default_factory=list)
    """Venues asked for open orders and balances at start (live and paper profiles)."""
    reconcile_timeout_ms: PositiveFloat = 30_000.0
    """How long a venue may take to answer; then the report says `answered = false`."""
    cancel_unknown: bool = False
    """Cancel orders open at a venue that execution does not know (otherwise only reported)."""
    expected_balances: dict[str, dict[str, Decimal]] = msgspec.field(default_factory=dict)
    """Balances per venue and asset to reconcile against until the ledger publishes its
    `Balances` of the venue."""


class Reconciling(msgspec.Struct, kw_only=True):
    """A `ReconcileRequest` awaiting its `VenueSnapshot`."""

    request_id: str
    timer: int


class ExecutionState(msgspec.Struct, kw_only=True):
    """Open orders by client id, pending replaces and reconciliations, and counters."""

    open: dict[str, Order] = msgspec.field(default_factory=dict)
    replacing: dict[str, str] = msgspec.field(default_factory=dict)
    """Replacement client id -> the order it replaces, while the risk gate judges it."""
    ledger: dict[str, LedgerBalances | Balances] = msgspec.field(default_factory=dict)
    """The books' latest balances per venue: the ledger's `Balances` of the venue's main wallet,
    or an `execution.Balances` from another source."""
    reconciling: dict[str, Reconciling] = msgspec.field(default_factory=dict)
    next_request: int = 0
    watch: dict[str, int] = msgspec.field(default_factory=dict)
    """Client id -> deadline (ns) of every order waiting for something, in the order they began."""
    watchdog: int = 0
    """The timer due at the earliest deadline (0: none armed)."""
    watchdog_due: int = 0
    submitted: int = 0
    filled: int = 0
    canceled: int = 0
    rejected: int = 0
    expired: int = 0
    duplicates: int = 0
    illegal: int = 0
    timeouts: int = 0
    queries: int = 0
    resubmits: int = 0
    gave_up: int = 0
    unresolved: int = 0
    replaced: int = 0
    replace_refused: int = 0
    reconciliations: int = 0


class Execution(Actor):
    """Own the order lifecycle between the risk gate and the venues."""

    Params = ExecutionConfig

    def __init__(self, params: ExecutionConfig | None = None) -> None:
        self.params = params or ExecutionConfig()
        self.state = ExecutionState()
        t = self._t = self.params.timeouts
        self._timed = t.enabled
        self._ack_ns = round(t.ack_timeout_ms * MS)
        self._cancel_ns = round(t.cancel_timeout_ms * MS)

    def on_start(self) -> None:
        ctx = self.ctx
        ctx.subscribe(OrderApproved)
        ctx.subscribe(OrderDenied)
        ctx.subscribe(CancelOpenOrders)
        ctx.subscribe(VenueEvent)
        ctx.subscribe(VenueSnapshot)
        ctx.subscribe(Balances)
        ctx.subscribe(LedgerBalances)
        ctx.subscribe(Resumed)
        for venue in self.params.reconcile_venues:
            self._ask(venue)

    # -- new orders --------------------------------------------------------------------------

    def on_approved(self, msg: OrderApproved) -> None:
        intent = msg.intent
        st = self.state
        if intent.client_id in st.open:
            st.duplicates += 1
            self.ctx.log.warning("order_duplicate_client_id", client_id=intent.client_id)
            return
        env = self.ctx.current
        order = Order(
            client_id=intent.client_id,
            strategy=intent.strategy,
            venue=intent.venue,
            instrument=intent.instrument,
            side=intent.side,
            qty=intent.qty,
            price=intent.price,
            corr=env.corr if env is not None else "",
            submitted_ns=env.ts if env is not None else self.ctx.now,
            order_type="limit" if intent.price is not None else "market",
        )
        if intent.replaces:
            self._replace(order, intent.replaces)
            return
        order.status = "SUBMITTED"  # `apply("submit")` from NEW, which always leads there
        st.open[order.client_id] = order
        st.submitted += 1
        self._submit(order)

    def _submit(self, order: Order) -> None:
        """Send `order` (again: same client id, the next attempt) and wait for its ack."""
        attempt = order.attempts
        order.attempts = attempt + 1
        ctx = self.ctx
        ctx.send(
            order.venue,
            SubmitOrder(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=order.venue,
                instrument=order.instrument,
                side=order.side,
                qty=order.qty,
                price=order.price,
                order_type=order.order_type,
                attempt=attempt,
            ),
            corr=order.corr,
        )
        if self._timed:  # `_arm`, inlined: this runs for every order of a backtest
            due = ctx.now + self._ack_ns
            order.waiting = "ack"
            order.deadline = due
            st = self.state
            st.watch[order.client_id] = due
            if not st.watchdog or due < st.watchdog_due:
                self._watch(due)

    # -- cancels -----------------------------------------------------------------------------

    def on_request_cancel(self, msg: RequestCancel) -> None:
        order = self.state.open.get(msg.client_id)
        if order is None or order.status == "CANCEL_PENDING":
            return  # finished already (its last event is on its way) or already asked
        self._cancel(order, msg.reason or "requested")

    def on_cancel_open(self, msg: CancelOpenOrders) -> None:
        for order in list(self.state.open.values()):
            if order.status != "CANCEL_PENDING" and _in_scope(order, msg):
                self._cancel(order, msg.reason)

    def _cancel(self, order: Order, reason: str, /) -> None:
        if order.status == "NEW" or order.waiting == "resubmit":
            # Never sent (a replacement still waiting), or the venue said it has no such order.
            self._close_out(order, "cancel", reason)
            return
        nxt = TRANSITIONS[order.status].get("cancel_request")  # `_move`, inlined
        if nxt is None:
            self._move(order, "cancel_request")  # refused: counted and logged there
            return
        order.status = nxt  # type: ignore[assignment]
        self._send_cancel(order)

    def _send_cancel(self, order: Order) -> None:
        attempt = order.cancels
        order.cancels = attempt + 1
        ctx = self.ctx
        ctx.send(
            order.venue,
            CancelOrder(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=order.venue,
                instrument=order.instrument,
                attempt=attempt,
                venue_order_id=order.venue_order_id,
            ),
            corr=order.corr,
        )
        if self._timed:  # `_arm`, inlined: this runs for every cancel of a backtest
            due = ctx.now + self._cancel_ns
            order.waiting = "cancel"
            order.deadline = due
            st = self.state
            st.watch[order.client_id] = due
            if not st.watchdog or due < st.watchdog_due:
                self._watch(due)

    # -- cancel/replace ----------------------------------------------------------------------

    def on_request_replace(self, msg: RequestReplace) -> None:
        st = self.state
        old = st.open.get(msg.client_id)
        problem = self._replace_problem(old, msg.new_client_id)
        if problem is not None:
            self._refuse_replace(msg.new_client_id, msg.strategy, old, *problem)
            return
        assert old is not None
        old.replaced_by = msg.new_client_id
        old.replace_basis = old.filled
        st.replacing[msg.new_client_id] = old.client_id
        self.ctx.send(
            self.params.risk,
            OrderIntent(
                client_id=msg.new_client_id,
                strategy=msg.strategy,
                venue=old.venue,
                instrument=old.instrument,
                side=old.side,
                qty=msg.qty,
                price=msg.price,
                replaces=old.client_id,
            ),
            corr=old.corr or None,
        )

    def on_denied(self, msg: OrderDenied) -> None:
        old_id = self.state.replacing.pop(msg.client_id, None)
        if old_id is None:
            return
        old = self.state.open.get(old_id)
        if old is not None and old.replaced_by == msg.client_id:
            old.replaced_by = ""  # the modify was refused: the old order stays as it is

    def _replace_problem(self, old: Order | None, new_id: str, /) -> tuple[str, str] | None:
        if old is None:
            return REPLACE_NOT_OPEN, "the order to replace is not open"
        if new_id in self.state.open:
            return DUPLICATE_CLIENT_ID, f"`new_client_id` {new_id!r} is already open"
        if old.replaced_by and old.replaced_by != new_id:
            return REPLACE_PENDING, f"order `{old.client_id}` is already being replaced"
        if "replace" not in TRANSITIONS[old.status]:
            self.state.illegal += 1
            return REPLACE_ILLEGAL, f"order `{old.client_id}` cannot be replaced in {old.status}"
        return None

    def _replace(self, new: Order, old_id: str, /) -> None:
        """Start an approved replace: cancel the old order; the new one waits for it in NEW."""
        st = self.state
        st.replacing.pop(new.client_id, None)
        old = st.open.get(old_id)
        problem = self._replace_problem(old, new.client_id)
        if problem is not None:
            self._refuse_replace(new.client_id, new.strategy, old, *problem, new=new)
            return
        assert old is not None
        if old.replaced_by != new.client_id:  # an intent sent straight to the gate
            old.replaced_by = new.client_id
            old.replace_basis = old.filled
        new.replaces = old.client_id
        st.open[new.client_id] = new
        st.replaced += 1
        if old.waiting == "resubmit":
            self._close_out(old, "cancel", f"replaced by `{new.client_id}`")
            return
        self._move(old, "replace")
        self._send_cancel(old)

    def _refuse_replace(
        self,
        new_id: str,
        strategy: str,
        old: Order | None,
        code: str,
        detail: str,
        /,
        *,
        new: Order | None = None,
    ) -> None:
        st = self.state
        st.replace_refused += 1
        if old is not None and old.replaced_by == new_id:
            old.replaced_by = ""
        self.ctx.log.warning("order_replace_refused", client_id=new_id, code=code, detail=detail)
        if code == DUPLICATE_CLIENT_ID:
            return  # a rejection under that id would end the live order that holds it
        venue = new.venue if new is not None else old.venue if old is not None else ""
        instrument = new.instrument if new is not None else old.instrument if old else ""
        self.ctx.publish(
            OrderRejected(client_id=new_id, strategy=strategy, venue=venue,
                          instrument=instrument, code=code, detail=detail)
        )  # fmt: skip

    def _release(self, old: Order, /) -> None:
        """Send the replacement of `old`, now done, less what `old` filled since the replace."""
        new = self.state.open.get(old.replaced_by)
        if new is None or new.status != "NEW":
            return
        qty = new.qty - (old.filled - old.replace_basis)
        if qty <= ZERO:
            self._close_out(
                new, "reject", f"`{old.client_id}` filled {old.filled - old.replace_basis} "
                f"of {new.qty} while being replaced", code=REPLACE_FILLED,
            )  # fmt: skip
            return
        new.qty = qty
        new.apply("submit")
        self.state.submitted += 1
        self._submit(new)

    # -- venue events ------------------------------------------------------------------------

    def on_accepted(self, msg: OrderAccepted) -> None:
        """`on_venue_event` for an acceptance (most events are), with its transition inlined."""
        st = self.state
        order = st.open.get(msg.client_id)
        if order is None:
            return  # not ours (another execution), or already finished
        order.venue_order_id = msg.venue_order_id
        nxt = TRANSITIONS[order.status].get("accept")
        if nxt is None:
            self._move(order, "accept")  # refused: counted and logged there
        else:
            order.status = nxt
        if order.status in TERMINAL:
            self._done(order)
        elif order.waiting:
            self._heard(order)

    def on_canceled(self, msg: OrderCanceled) -> None:
        """`on_venue_event` for a cancel confirmation, with its transition inlined."""
        st = self.state
        order = st.open.get(msg.client_id)
        if order is None:
            return
        nxt = TRANSITIONS[order.status].get("cancel")
        if nxt is None:
            self._move(order, "cancel")  # refused: counted and logged there
        else:
            order.status = nxt
            st.canceled += 1
        if order.status in TERMINAL:
            self._done(order)
        elif order.waiting:
            self._heard(order)

    def on_venue_event(self, msg: VenueEvent) -> None:
        order = self.state.open.get(msg.client_id)
        if order is None:
            return  # not ours (another execution), or already finished
        st = self.state
        if isinstance(msg, OrderFilled):
            order.filled += msg.qty
            order.notional += msg.qty * msg.price
            order.fees += msg.fee
            if order.filled > order.qty:
                self.ctx.log.error("order_overfilled", client_id=order.client_id,
                                   filled=str(order.filled), qty=str(order.qty))  # fmt: skip
            done = msg.leaves_qty <= ZERO
            self._move(order, "fill" if done else "fill_part")
            if done:
                st.filled += 1
        elif isinstance(msg, OrderAccepted):
            order.venue_order_id = msg.venue_order_id
            self._move(order, "accept")
        elif isinstance(msg, OrderCanceled):
            if self._move(order, "cancel"):
                st.canceled += 1
        elif isinstance(msg, CancelRejected):
            # The venue does not hold it open: ask how it ended (fills may be on their way).
            self._query(order, fresh=True)
            return
        elif isinstance(msg, OrderRejected):
            if self._move(order, "reject"):
                st.rejected += 1
        elif isinstance(msg, OrderExpired) and self._move(order, "expire"):
            st.expired += 1
        if order.status in TERMINAL:
            self._done(order)
        elif order.waiting:
            self._heard(order)

    def _heard(self, order: Order, /) -> None:
        """Any word from the venue on the order acknowledges it: no query, no resubmission."""
        waiting = order.waiting
        if waiting == "ack" and order.deadline:  # `_disarm`, inlined: every order's ack
            order.waiting = ""
            order.deadline = 0
            st = self.state
            watch = st.watch
            del watch[order.client_id]
            if not watch and st.watchdog:
                self.ctx.cancel(st.watchdog)
                st.watchdog = 0
        elif waiting in ("ack", "resubmit") or (
            waiting == "query" and order.status != "CANCEL_PENDING"
        ):
            self._disarm(order)

    def on_status(self, msg: OrderStatusReport) -> None:
        order = self.state.open.get(msg.client_id)
        if order is None:
            return
        if msg.query:
            if order.waiting != "query" or msg.query != f"query:{order.client_id}:{order.query_no}":
                return  # an earlier query's answer, or one settled since
        elif order.waiting not in ("ack", "query") or msg.status in ("not_found", "unknown"):
            return  # unsolicited (a refused duplicate): it only settles an order waiting for it
        self._apply(order, judge(order, msg, self._t), msg)

    def _apply(self, order: Order, verdict: Verdict, msg: OrderStatusReport, /) -> None:
        action = verdict.action
        log = self.ctx.log
        if action == "requery":
            # Ask again once the backoff has passed (the watchdog sends the next query).
            log.info("order_query_unsettled", client_id=order.client_id, status=msg.status,
                     detail=verdict.detail)  # fmt: skip
            if self._timed:
                t = self._t
                self._arm(order, "query", backoff_ns(t, order.queries, base_ms=t.query_timeout_ms))
            return
        order.queries = 0
        if action == "adopt":
            event = verdict.event
            assert event is not None
            if event == "accept":
                if msg.venue_order_id:
                    order.venue_order_id = msg.venue_order_id
                self._move(order, "accept")
                self._disarm(order)
            elif event == "fill":
                if self._move(order, "fill"):
                    self.state.filled += 1
                    self._done(order)
            else:
                detail = verdict.detail or f"the venue reports it {msg.status}"
                if msg.status == "not_found":
                    log.warning("order_not_at_venue", client_id=order.client_id,
                                status=order.status)  # fmt: skip
                self._close_out(order, event, detail)
        elif action == "resubmit":
            if self._timed:
                self._arm(order, "resubmit", backoff_ns(self._t, order.attempts - 1))
            else:
                self._resubmit(order)
        elif action == "give_up":
            self.state.gave_up += 1
            code = SUBMIT_UNCONFIRMED if order.resubmit else NOT_AT_VENUE
            log.warning("order_submit_gave_up", client_id=order.client_id, code=code,
                        attempts=order.attempts)  # fmt: skip
            self._close_out(order, "reject", verdict.detail, code=code)
        elif action == "recancel":
            self._send_cancel(order)
        elif action == "cancel_gave_up":
            log.error("order_cancel_gave_up", client_id=order.client_id, cancels=order.cancels)
            self._disarm(order)
            self._move(order, "cancel_reject")
            new = self.state.open.get(order.replaced_by)
            if new is not None and new.status == "NEW":
                self._close_out(new, "reject", verdict.detail, code=REPLACE_CANCEL_FAILED)
            order.replaced_by = ""
        else:
            self._disarm(order)

    def _resubmit(self, order: Order) -> None:
        self.state.resubmits += 1
        self.ctx.log.info("order_resubmitted", client_id=order.client_id, attempt=order.attempts)
        self._move(order, "resubmit")
        self._submit(order)

    # -- timers ------------------------------------------------------------------------------
    #
    # One timer, the watchdog, stands for every order's deadline: it is due at the earliest one,
    # cancelled when no order waits. A burst of orders acknowledged at once (every bar of a
    # backtest) costs one timer, not one per order, and a timer that is cancelled leaves nothing
    # in the journal.

    def on_timer(self, msg: TimerFired) -> None:
        st = self.state
        if msg.timer_id == st.watchdog:
            st.watchdog = 0
            self._overdue()
            return
        for venue, pending in st.reconciling.items():
            if pending.timer == msg.timer_id:
                del st.reconciling[venue]
                self.ctx.log.error("reconciliation_unanswered", venue=venue,
                                   request_id=pending.request_id)  # fmt: skip
                self.ctx.publish(_unanswered(venue, pending.request_id, self.ctx.now))
                return

    def _query(self, order: Order, /, *, fresh: bool = False) -> None:
        """Ask the venue about `order`; arm the next query, later each time it goes unsettled."""
        st = self.state
        t = self._t
        if fresh:
            order.queries = 0
        order.queries += 1
        order.query_no += 1
        st.queries += 1
        if order.queries > t.max_queries and not order.unresolved:
            order.unresolved = True
            st.unresolved += 1
            self.ctx.log.error("order_unresolved", client_id=order.client_id,
                               status=order.status, queries=order.queries - 1)  # fmt: skip
        self.ctx.send(
            order.venue,
            QueryOrder(
                client_id=order.client_id,
                strategy=order.strategy,
                venue=order.venue,
                instrument=order.instrument,
                query_no=order.query_no,
                venue_order_id=order.venue_order_id,
            ),
            corr=order.corr,
        )
        if self._timed:
            self._arm(order, "query", backoff_ns(t, order.queries - 1, base_ms=t.query_timeout_ms))
        else:
            order.waiting = "query"

    def _overdue(self) -> None:
        """Handle every order whose deadline has passed, in the order they began to wait."""
        st = self.state
        now = self.ctx.now
        due = [cid for cid, deadline in st.watch.items() if deadline <= now]
        for cid in due:
            deadline = st.watch.get(cid)
            order = st.open.get(cid)
            if deadline is None or deadline > now or order is None:
                continue  # settled, or waiting anew, since the list was made
            del st.watch[cid]
            order.deadline = 0
            waiting = order.waiting
            if waiting == "resubmit":
                self._resubmit(order)
                continue
            if waiting != "query":
                st.timeouts += 1
                self.ctx.log.info("order_timeout", client_id=cid, waiting=waiting,
                                  status=order.status)  # fmt: skip
            self._query(order, fresh=waiting != "query")
        if st.watch:
            earliest = min(st.watch.values())
            if not st.watchdog or earliest < st.watchdog_due:
                self._watch(earliest)

    def _arm(self, order: Order, waiting: Waiting, delay_ns: int, /) -> None:
        """Make `order` wait for `waiting` until `delay_ns` from now."""
        due = self.ctx.now + delay_ns
        order.waiting = waiting
        order.deadline = due
        st = self.state
        st.watch[order.client_id] = due
        if not st.watchdog or due < st.watchdog_due:
            self._watch(due)

    def _watch(self, due: int, /) -> None:
        st = self.state
        if st.watchdog:
            self.ctx.cancel(st.watchdog)
        st.watchdog = self.ctx.schedule(max(0, due - self.ctx.now), key="watchdog")
        st.watchdog_due = due

    def _disarm(self, order: Order, /) -> None:
        order.waiting = ""
        if order.deadline:
            order.deadline = 0
            st = self.state
            watch = st.watch
            del watch[order.client_id]
            if not watch and st.watchdog:
                self.ctx.cancel(st.watchdog)
                st.watchdog = 0

    def on_effect_failed(self, msg: EffectFailed) -> None:
        # The timer of the order still runs: the venue is asked rather than the command repeated.
        self.ctx.log.warning("execution_command_failed", idem_key=msg.idem_key, error=msg.error)

    # -- ends --------------------------------------------------------------------------------

    def _done(self, order: Order, /) -> None:
        """Forget a finished order; send the replacement that waited for it, if any."""
        if order.deadline:
            self._disarm(order)
        del self.state.open[order.client_id]
        if order.replaced_by:
            self._release(order)

    def _close_out(
        self, order: Order, event: OrderEvent, reason: str, /, *, code: str = ""
    ) -> None:
        """End `order` on execution's own word, and say so in the venue's terms."""
        if not self._move(order, event):
            return
        st = self.state
        cid, strategy, venue, instrument = (order.client_id, order.strategy, order.venue,
                                            order.instrument)  # fmt: skip
        leaves = order.qty - order.filled
        if event == "reject":
            st.rejected += 1
            self.ctx.publish(OrderRejected(client_id=cid, strategy=strategy, venue=venue,
                                           instrument=instrument, code=code or NOT_AT_VENUE,
                                           detail=reason))  # fmt: skip
        elif event == "expire":
            st.expired += 1
            self.ctx.publish(OrderExpired(client_id=cid, strategy=strategy, venue=venue,
                                          instrument=instrument, leaves_qty=leaves))  # fmt: skip
        else:
            st.canceled += 1
            self.ctx.publish(OrderCanceled(client_id=cid, strategy=strategy, venue=venue,
                                           instrument=instrument, leaves_qty=leaves,
                                           reason=reason))  # fmt: skip
        self._done(order)

    def _move(self, order: Order, event: OrderEvent) -> bool:
        try:
            order.apply(event)
        except IllegalTransitionError as exc:
            self.state.illegal += 1
            self.ctx.log.warning(
                "order_transition_refused", client_id=order.client_id, error=str(exc)
            )
            return False
        return True

    # -- reconciliation at start -------------------------------------------------------------

    def _ask(self, venue: str, /) -> None:
        st = self.state
        earlier = st.reconciling.get(venue)
        if earlier is not None:
            self.ctx.cancel(earlier.timer)  # the latest question is the one answered
        st.next_request += 1
        request_id = f"{self.ctx.name}:reconcile:{st.next_request}"
        timer = self.ctx.schedule(
            round(self.params.reconcile_timeout_ms * MS), key=f"reconcile:{venue}"
        )
        st.reconciling[venue] = Reconciling(request_id=request_id, timer=timer)
        self.ctx.send(venue, ReconcileRequest(venue=venue, request_id=request_id))

    def on_resumed(self, msg: Resumed) -> None:
        """The daemon resumed this run after a gap: reconcile with every configured venue."""
        for venue in self.params.reconcile_venues:
            self._ask(venue)

    def on_reconcile_request(self, msg: ReconcileRequest) -> None:
        """Reconcile now: sent to execution (by the daemon after a restart, or an operator), it
        asks venue `msg.venue`, or every `reconcile_venues` for `*`."""
        venues = self.params.reconcile_venues if msg.venue == "*" else [msg.venue]
        for venue in venues:
            self._ask(venue)

    def on_balances(self, msg: Balances) -> None:
        self.state.ledger[msg.venue] = msg

    def on_ledger_balances(self, msg: LedgerBalances) -> None:
        """Keep the books' side of a venue: the ledger's balances of its main wallet."""
        if msg.holder == msg.venue:  # not a sub-wallet (`sim/hot`) or a wallet (`wallet:x`)
            self.state.ledger[msg.venue] = msg

    def on_snapshot(self, msg: VenueSnapshot) -> None:
        st = self.state
        pending = st.reconciling.get(msg.venue)
        if msg.request_id and (pending is None or pending.request_id != msg.request_id):
            return  # another execution's question, or one already reported as unanswered
        if pending is not None:
            self.ctx.cancel(pending.timer)
            del st.reconciling[msg.venue]
        st.reconciliations += 1
        venue = msg.venue
        orders = compare_orders([o for o in st.open.values() if o.venue == venue],
                                msg.open_orders)  # fmt: skip
        ledger = st.ledger.get(venue)
        expected: dict[str, Decimal]
        if isinstance(ledger, LedgerBalances):
            source, expected = "ledger", {a: b.total for a, b in ledger.assets.items()}
        elif ledger is not None:
            source, expected = ledger.source or "ledger", ledger.balances
        elif venue in self.params.expected_balances:
            source, expected = "config", self.params.expected_balances[venue]
        else:
            source, expected = "", {}
        balances = compare_balances(expected, msg.balances) if source else []
        canceled: list[str] = []
        if msg.complete:
            for cid in orders.missing_at_venue:
                order = st.open[cid]
                order.resubmit = False  # a restart later, the strategy's intent may be stale
                self._query(order, fresh=True)
            if self.params.cancel_unknown:
                for v in orders.unknown_at_venue:
                    self.ctx.send(venue, CancelOrder(client_id=v.client_id, strategy="",
                                                     venue=venue, instrument=v.instrument,
                                                     venue_order_id=v.venue_order_id))  # fmt: skip
                    canceled.append(v.venue_order_id)
        ok = (
            not (
                orders.missing_at_venue or orders.unknown_at_venue or orders.mismatches or balances
            )
            and msg.complete
        )
        report = ReconciliationReport(
            venue=venue,
            request_id=msg.request_id,
            at_ns=self.ctx.now,
            answered=True,
            complete=msg.complete,
            matched=orders.matched,
            missing_at_venue=orders.missing_at_venue,
            unknown_at_venue=orders.unknown_at_venue,
            order_mismatches=orders.mismatches,
            balances_checked=bool(source),
            balance_source=source,
            balance_mismatches=balances,
            canceled_unknown=canceled,
            ok=ok,
        )
        log = self.ctx.log.info if ok else self.ctx.log.warning
        log(
            "reconciliation_report",
            venue=venue,
            ok=ok,
            matched=len(orders.matched),
            missing_at_venue=len(orders.missing_at_venue),
            unknown_at_venue=len(orders.unknown_at_venue),
            order_mismatches=len(orders.mismatches),
            balance_mismatches=len(balances),
            balance_source=source,
        )
        self.ctx.publish(report)


def _unanswered(venue: str, request_id: str, now: int, /) -> ReconciliationReport:
    return ReconciliationReport(
        venue=venue, request_id=request_id, at_ns=now, answered=False, complete=False,
        matched=[], missing_at_venue=[], unknown_at_venue=[], order_mismatches=[],
        balances_checked=False, balance_source="", balance_mismatches=[], canceled_unknown=[],
        ok=False,
    )  # fmt: skip


def _in_scope(order: Order, msg: CancelOpenOrders) -> bool:
    scope, target = msg.scope, msg.target
    if scope == "global" or target == "*":
        return True
    if scope == "venue":
        return order.venue == target
    if scope == "instrument":
        return order.instrument == target
    if scope == "strategy":
        return order.strategy == target
    return False
