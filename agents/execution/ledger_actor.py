"""Keep the books of record as an actor: venue fills and wallet movements in, balances out.

Kind `ledger_keeper`. It owns one `runtime.Ledger` and feeds it what happens to the money:

- opening balances from its params (exact, per venue or `wallet:<owner>` and asset; a unit cost
  basis opens a lot), booked at start;
- with `reserve = true`, the risk gate's `OrderApproved` reserves what the order may spend (a
  limit buy its notional plus a fee bound, a sell its quantity); its fills spend it, and the
  event that ends the order (cancelled, rejected, expired, filled) releases the rest. A
  `CancelRejected` releases nothing: the order is still live, or its fills are on their way;
- `OrderFilled` posts the fill: double entry, FIFO lots, realized PnL, fees (in the quote, the
  base, or a third asset held in lots). A fill already booked (same venue and `fill_id`) changes
  nothing;
- movements (`runtime.BookDeposit`, `BookWithdrawal`, `BookTransfer`, `BookFee`), sent to it or
  published, for the ramp and wallet agents; each is answered with `LedgerPosted` or
  `LedgerRefused`;
- market data marks the books (bar close, quote mid, trade price) for unrealized PnL, and every
  hour of kernel time it publishes an `EconomicSnapshotTaken` (equity, cash, positions,
  exposure, drawdown).

Each posting carries the corr of its order (Signal -> Order -> Fill -> Lot -> Trade): venues
report an order's events under the order's corr, so a fill's corr is its order's (the client
order id when the order had none). After changes it publishes `Balances` per holder, once per
market-data message or timer (and right after a movement), never once per fill: a bar that
fills three orders costs one message. Execution reads the same message as the books' side of
its reconciliation with a venue. At the end it publishes a `LedgerReport` (`ledger.json`).

The state is the ledger's (bounded by what is open: accounts, holds, lots, the dedupe window)
and the marks; the transactions themselves live in the journal, from which
`kinetic ledger` rebuilds them. A fill the books refuse (a venue reported more than the ledger
holds) is logged, counted, published as `LedgerRefused` and changes nothing: a deterministic
failure must not crash-loop the actor.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact

import msgspec

from agents.data.messages import Bar, Quote, Tick, Trade
from agents.execution.messages import (
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    VenueEvent,
)
from agents.risk.messages import OrderApproved
from runtime import (
    Accounts,
    Actor,
    AssetBalance,
    Balances,
    BookDeposit,
    BookFee,
    BookMovement,
    BookTransfer,
    BookWithdrawal,
    ConfigBase,
    EconomicSnapshot,
    EconomicSnapshotTaken,
    Ledger,
    LedgerError,
    LedgerPosted,
    LedgerRefused,
    LedgerReport,
    LedgerState,
    Message,
    Position,
    PositionSummary,
    TimerFired,
    Transaction,
)
from runtime._ledger_messages import holder_of
from runtime._valuation import HOUR_NS
from runtime.config import NonNegativeFloat

ZERO = Decimal(0)
BPS = Decimal(10_000)
EXACT = Context(prec=60, traps=[Inexact])
"""Money arithmetic here: wide enough for any price x qty, and rounding raises instead."""
LOGGED_REFUSALS = 100
"""Refused fills and holds logged one by one; past this they are only counted."""


class LedgerKeeperConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of kind `ledger_keeper` (docs/ledger.md, "The ledger actor")."""

    numeraire: str = "USDT"
    """The asset equity is measured in, and the default quote of a cost basis."""
    balances: dict[str, dict[str, Decimal]] = msgspec.field(default_factory=dict)
    """Opening balances per venue (or `wallet:<owner>`) and asset, in `risk_gate`'s shape:
    `{ sim = { USDT = "1000000", BTC = "1" } }`."""
    cost_basis: dict[str, dict[str, Decimal]] = msgspec.field(default_factory=dict)
    """The unit cost, in the numeraire, of an opening balance that is not the numeraire:
    `{ sim = { BTC = "103000" } }`. It opens a lot, so the position can be sold; an opening
    balance without one is unlotted (fees in BNB may spend it; a sell may not)."""
    reserve: bool = False
    """Reserve what approved orders may spend, so `Balances.free` = total - reserved. Off:
    free = total, and the keeper reads only fills and marks (the risk gate keeps its own
    reservations for its no-leverage check)."""
    fee_bound_bps: Decimal = Decimal(50)
    """A limit buy reserves qty x price x (1 + this / 10,000), as the risk gate does."""
    balances_delay_ms: NonNegativeFloat | None = None
    """Also publish `Balances` at most this long after a change when no market data comes
    (a timer; for live runs without a feed). None: at the next market data or hourly timer."""
    alloc_places: int = 8
    """Inexact pro-rata shares of a lot's cost are rounded to 10**-alloc_places."""
    dedupe_window: int = 1_000
    """At least this many recent fills (and movement refs) are remembered to drop duplicates
    (a redelivery comes within seconds; each one kept is state, snapshotted with the books)."""

    def __post_init__(self) -> None:
        for venue, assets in self.balances.items():
            for asset, amount in assets.items():
                if not amount >= 0:
                    raise ValueError(f"`balances.{venue}.{asset}` must be >= 0, got {amount}")
        for venue, assets in self.cost_basis.items():
            for asset, price in assets.items():
                where = f"cost_basis.{venue}.{asset}"
                if asset not in self.balances.get(venue, {}):
                    raise ValueError(f"`{where}` has no opening balance in `balances`")
                if asset == self.numeraire:
                    raise ValueError(f"`{where}`: the numeraire `{asset}` takes no cost basis")
                if not price >= 0:
                    raise ValueError(f"`{where}` must be >= 0, got {price}")
        if self.dedupe_window < 1:
            raise ValueError(f"`dedupe_window` must be >= 1, got {self.dedupe_window}")
        if not 0 <= self.alloc_places <= 18:
            raise ValueError(f"`alloc_places` must be in [0, 18], got {self.alloc_places}")


class LedgerKeeperState(msgspec.Struct, kw_only=True):
    """The books, the marks, and what to publish next."""

    ledger: LedgerState = msgspec.field(default_factory=LedgerState)
    marks: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """The last price per instrument (`BTC/USDT`)."""
    dirty: list[str] = msgspec.field(default_factory=list)
    """Holders whose balances changed since their last `Balances`."""
    flush_pending: bool = False
    hour_armed: bool = False
    """Whether the next hourly snapshot's timer is set (it is, while anything happens)."""
    fills: int = 0
    duplicates: int = 0
    refused: int = 0
    first_refusal: str = ""
    holds_refused: int = 0
    hourly: int = 0
    unvalued: int = 0
    """Hourly snapshots skipped because a held asset had no mark yet."""


class LedgerKeeper(Actor):
    """Keep the books: see the module docstring."""

    Params = LedgerKeeperConfig

    def __init__(self, params: LedgerKeeperConfig | None = None) -> None:
        self.params = params or LedgerKeeperConfig()
        self.state = LedgerKeeperState()
        self.ledger = self._ledger(self.state.ledger, None)
        """The books; `kinetic ledger` reads it after rebuilding a run."""
        self._hold_rate = EXACT.add(1, EXACT.divide(self.params.fee_bound_bps, BPS))
        self._holders: dict[str, str] = {}
        """Holding account -> holder (a cache of `holder_of`)."""
        self._accounts: dict[str, list[str]] = {}
        """Holder -> its holding accounts, sorted."""

    def _ledger(self, state: LedgerState, ledger: Ledger | None, /) -> Ledger:
        p = self.params
        return Ledger(
            numeraire=p.numeraire,
            alloc_places=p.alloc_places,
            dedupe_window=p.dedupe_window,
            state=state,
            history=ledger.history if ledger is not None else None,
        )

    def restore(self, data: bytes, /) -> None:
        self.state = msgspec.msgpack.decode(data, type=LedgerKeeperState)
        self.ledger = self._ledger(self.state.ledger, self.ledger)
        if self.ledger.history is not None:
            self.ledger.history.truncate(self.state.ledger)
        self._holders = {}
        self._accounts = {}
        for account in self.ledger.holdings():
            self._holder(account)

    # -- start and stop ----------------------------------------------------------------------

    def on_start(self) -> None:
        ctx = self.ctx
        p = self.params
        now = ctx.now
        for venue in sorted(p.balances):
            basis = p.cost_basis.get(venue, {})
            for asset in sorted(p.balances[venue]):
                amount = p.balances[venue][asset]
                if not amount:
                    continue
                price = basis.get(asset)
                tx = self.ledger.deposit(
                    venue, asset, amount, corr="opening", ts=now, ref=f"opening:{venue}:{asset}",
                    cost=None if price is None else EXACT.multiply(amount, price),
                )  # fmt: skip
                self._touch(tx)
        # Fills, movements, marks; with holds also approvals (each order's hold) and the events
        # that end an order. Never `OrderAccepted`: it moves no money. Never `CancelRejected`:
        # the order it names is still live, or filled (its fills settle the hold).
        wanted: tuple[type[Message], ...] = (OrderFilled, BookMovement, Bar, Quote, Tick, Trade)
        if p.reserve:
            wanted += (OrderApproved, OrderCanceled, OrderRejected, OrderExpired)
        for mtype in wanted:
            ctx.subscribe(mtype)
        self._arm()
        self._flush()

    def on_stop(self) -> None:
        self._flush()
        st = self.state
        snap = self._snapshot()
        book = self.ledger.state
        for account in self.ledger.holdings():
            self._holder(account)
        holders = {h: self._table(h) for h in sorted(self._accounts)}
        self.ctx.publish(
            LedgerReport(
                ledger=self.ctx.name,
                numeraire=self.params.numeraire,
                holders=holders,
                positions=[_summary(book.positions[k]) for k in sorted(book.positions)],
                snapshot=snap,
                peak_equity=book.peak_equity,
                max_drawdown_ratio=book.max_drawdown_ratio,
                transactions=book.tx_count,
                postings=book.postings,
                trades=book.trade_seq,
                head=book.tx_head.hex(),
                fills=st.fills,
                duplicates=st.duplicates,
                refused=st.refused,
                first_refusal=st.first_refusal,
                hourly_snapshots=st.hourly,
            )
        )

    # -- orders and fills --------------------------------------------------------------------

    def on_approved(self, msg: OrderApproved) -> None:
        intent = msg.intent
        env = self.ctx.current
        st = self.state
        if not st.hour_armed:
            self._arm()
        if intent.price is None:
            return  # a market buy's cost is unknown until it fills: nothing to reserve
        base, _, quote = intent.instrument.partition("/")
        if intent.side == "buy":
            asset = quote
            amount = EXACT.multiply(EXACT.multiply(intent.qty, intent.price), self._hold_rate)
        else:
            asset, amount = base, intent.qty
        try:
            hold = self.ledger.reserve(
                intent.client_id, intent.venue, asset, amount,
                corr=(env.corr if env is not None else "") or intent.client_id, ts=self.ctx.now,
            )  # fmt: skip
        except LedgerError as exc:
            st.holds_refused += 1
            if st.holds_refused <= LOGGED_REFUSALS:
                self.ctx.log.warning(
                    "ledger_hold_refused", client_id=intent.client_id, error=str(exc)
                )
            return
        self._dirty(hold.account)

    def on_venue_event(self, msg: VenueEvent) -> None:
        if not self.state.hour_armed:
            self._arm()
        if isinstance(msg, OrderFilled):
            self._fill(msg)
            if msg.leaves_qty <= 0:
                self._done(msg.client_id)
        elif isinstance(msg, OrderCanceled | OrderRejected | OrderExpired):
            self._done(msg.client_id)

    def _fill(self, msg: OrderFilled) -> None:
        st = self.state
        env = self.ctx.current
        # The venue reports a fill under its order's corr; an order sent without one traces by
        # its client id.
        corr = (env.corr if env is not None else "") or msg.client_id
        try:
            tx = self.ledger.apply_fill(
                msg.venue, msg.instrument, msg.side, msg.qty, msg.price, msg.fee, msg.fee_asset,
                corr=corr, fill_id=msg.fill_id, ts=self.ctx.now, order_id=msg.client_id,
            )  # fmt: skip
        except LedgerError as exc:
            self._refuse(f"{msg.venue}/{msg.fill_id}", "fill", str(exc))
            return
        if tx is None:
            st.duplicates += 1
            return
        st.fills += 1
        self._touch(tx)

    def _done(self, client_id: str, /) -> None:
        """Release what a finished order still holds."""
        hold = self.ledger.state.holds.get(client_id)
        if hold is not None:
            self.ledger.release(client_id)
            self._dirty(hold.account)

    def _refuse(self, ref: str, kind: str, reason: str, /) -> None:
        st = self.state
        st.refused += 1
        if not st.first_refusal:
            st.first_refusal = f"{ref}: {reason}"
        if st.refused <= LOGGED_REFUSALS:
            self.ctx.log.error("ledger_refused", ref=ref, kind=kind, error=reason)
        self.ctx.publish(LedgerRefused(ledger=self.ctx.name, ref=ref, kind=kind, reason=reason))

    # -- movements ---------------------------------------------------------------------------

    def on_book(self, msg: BookMovement) -> None:
        if not self.state.hour_armed:
            self._arm()
        ledger = self.ledger
        env = self.ctx.current
        corr = (env.corr if env is not None else "") or msg.ref
        ts = self.ctx.now
        kind = type(msg).__name__.removeprefix("Book").lower()
        try:
            if not msg.ref:
                raise LedgerError("`ref` must not be empty")
            if isinstance(msg, BookDeposit):
                tx = ledger.deposit(
                    msg.venue, msg.asset, msg.amount, corr=corr, ts=ts, wallet=msg.wallet,
                    source=msg.source, ref=msg.ref, cost=msg.cost, quote=msg.quote,
                )  # fmt: skip
            elif isinstance(msg, BookWithdrawal):
                tx = ledger.withdraw(
                    msg.venue, msg.asset, msg.amount, corr=corr, ts=ts, wallet=msg.wallet,
                    dest=msg.dest, ref=msg.ref,
                )  # fmt: skip
            elif isinstance(msg, BookTransfer):
                tx = ledger.transfer(
                    msg.venue, msg.to_venue, msg.asset, msg.amount, corr=corr, ts=ts,
                    wallet=msg.wallet, to_wallet=msg.to_wallet, ref=msg.ref,
                )  # fmt: skip
            elif isinstance(msg, BookFee):
                tx = ledger.charge_fee(
                    msg.venue, msg.asset, msg.amount, corr=corr, ts=ts, wallet=msg.wallet,
                    ref=msg.ref,
                )  # fmt: skip
            else:
                raise LedgerError(f"unknown movement `{type(msg).__name__}`")
        except LedgerError as exc:
            self._refuse(msg.ref, kind, str(exc))
            return
        self._touch(tx)
        self.ctx.publish(
            LedgerPosted(
                ledger=self.ctx.name,
                ref=msg.ref,
                kind=kind,
                tx=tx.id if tx is not None else None,
                duplicate=tx is None,
            )
        )
        self._flush()

    # -- marks, timers, balances -------------------------------------------------------------

    def on_bar(self, msg: Bar) -> None:
        self._mark(msg.instrument, msg.close)

    def on_quote(self, msg: Quote) -> None:
        self._mark(msg.instrument, EXACT.divide(EXACT.add(msg.bid, msg.ask), 2))

    def on_tick(self, msg: Tick) -> None:
        self._mark(msg.instrument, msg.price)

    def on_trade(self, msg: Trade) -> None:
        self._mark(msg.instrument, msg.price)

    def _mark(self, instrument: str, price: Decimal, /) -> None:
        st = self.state
        st.marks[instrument] = price
        if not st.hour_armed:
            self._arm()
        if st.dirty:
            self._flush()

    def _arm(self) -> None:
        """Set the timer of the next hour boundary; hours in which nothing happens are skipped."""
        self.state.hour_armed = True
        self.ctx.schedule(HOUR_NS - self.ctx.now % HOUR_NS, key="hourly")

    def on_timer(self, msg: TimerFired) -> None:
        if msg.key == "hourly":
            self.state.hour_armed = False
            snap = self._snapshot(hourly=True)
            if snap is not None:
                self.state.hourly += 1
                self.ctx.publish(EconomicSnapshotTaken(ledger=self.ctx.name, snapshot=snap))
        elif msg.key == "flush":
            self.state.flush_pending = False
        self._flush()

    def _snapshot(self, *, hourly: bool = False) -> EconomicSnapshot | None:
        marks = self.state.marks
        try:
            if hourly:
                return self.ledger.hourly(marks, ts=self.ctx.now)
            return self.ledger.snapshot(marks, ts=self.ctx.now)
        except LedgerError as exc:
            self.state.unvalued += 1
            self.ctx.log.info("ledger_snapshot_skipped", error=str(exc))
            return None

    def _holder(self, account: str, /) -> str:
        holder = self._holders.get(account)
        if holder is None:
            holder = self._holders[account] = holder_of(account)[0]
            accounts = self._accounts.setdefault(holder, [])
            accounts.append(account)
            accounts.sort()
        return holder

    def _dirty(self, account: str, /) -> None:
        holder = self._holder(account)
        st = self.state
        if holder not in st.dirty:
            st.dirty.append(holder)
            delay = self.params.balances_delay_ms
            if delay is not None and not st.flush_pending:
                st.flush_pending = True
                self.ctx.schedule(int(delay * 1_000_000), key="flush")

    def _touch(self, tx: Transaction | None, /) -> None:
        if tx is None:
            return
        for p in tx.postings:
            if Accounts.is_holding(p.account):
                self._dirty(p.account)

    def _table(self, holder: str, /) -> dict[str, AssetBalance]:
        st = self.ledger.state
        assets, bal, held = st.assets, st.balances, st.held
        out = {}
        for a in self._accounts.get(holder, ()):
            total = bal[a]
            h = held.get(a)
            out[assets[a]] = AssetBalance(
                total=total, free=total if h is None else EXACT.subtract(total, h)
            )
        return out

    def _flush(self) -> None:
        """Publish `Balances` for every holder that changed since its last one (one message per
        holder: execution reads a venue's main wallet from it for its reconciliation)."""
        st = self.state
        if not st.dirty:
            return
        name = self.ctx.name
        for holder in sorted(st.dirty):
            venue, wallet = _split(holder)
            table = self._table(holder)
            self.ctx.publish(
                Balances(ledger=name, holder=holder, venue=venue, wallet=wallet, assets=table)
            )
        st.dirty.clear()


def _split(holder: str, /) -> tuple[str, str]:
    venue, sep, wallet = holder.partition("/")
    return venue, wallet if sep else "main"


def _summary(pos: Position, /) -> PositionSummary:
    return PositionSummary(
        venue=pos.venue,
        wallet=pos.wallet,
        instrument=pos.instrument,
        open_qty=pos.qty,
        open_cost=pos.cost,
        open_fee=pos.fee,
        lots=len(pos.lots),
        realized=pos.realized,
    )
