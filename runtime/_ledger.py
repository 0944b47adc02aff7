"""Keep the books: double-entry postings in exact units, per venue, asset and wallet.

Every money figure Kinetic reports (balances, PnL, equity, risk's no-leverage check) derives from
these postings, so this is where exactness and balance are enforced: on every transaction, in
production too (TigerBeetle's rule). The ledger takes plain values, not agent messages, because
`runtime` imports no agent; its state is one `msgspec.Struct`, bounded by what is open (never
by history), so the actor that owns a ledger snapshots and restores it like any other state.

The chart of accounts is in `runtime._postings` (`Accounts`) and docs/ledger.md; the posting
rules in `runtime._fills` (fills) and `runtime._ledger_moves` (everything else). A refused
operation raises `LedgerError` and changes nothing: every check runs before the first write,
and every write goes through `Ledger._post`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from runtime._audit import audit
from runtime._errors import LedgerError
from runtime._fills import Market, plan_fill
from runtime._ledger_history import LedgerHistory, Trace, trace
from runtime._ledger_moves import Movements, lot_moves, plan_take
from runtime._ledger_post import DEDUPE_WINDOW
from runtime._lots import EXACT, ZERO, Position
from runtime._postings import Accounts, Fill, Hold, Side, Transaction, positive
from runtime._valuation import HOUR_NS, EconomicSnapshot, Marks, value

__all__ = ["DEDUPE_WINDOW", "Ledger", "LedgerHistory", "Trace"]


class Ledger(Movements):
    """Post deposits, transfers, fees and fills; keep FIFO lots, holds and snapshots.

    `numeraire` is the asset snapshots value in (cash is what is held of it), and the default
    quote of a deposit's cost basis. `alloc_places` sets the quantum (10**-alloc_places) to which
    an inexact pro-rata share of a lot is rounded. A fill (by venue and `fill_id`) or a movement
    (by `ref`) seen among the latest `dedupe_window` is applied once. Pass `state` to continue
    from a restored `LedgerState`, and `history` to keep every transaction and trade in memory.
    """

    __slots__ = ()

    # -- queries ------------------------------------------------------------------------------

    def balance(self, account: str, /) -> Decimal:
        """Return the balance of `account` (0 if never posted to)."""
        return self.state.balances.get(account, ZERO)

    def held(self, account: str, /) -> Decimal:
        """Return how much of `account` is reserved for open orders."""
        return self.state.held.get(account, ZERO)

    def free(self, account: str, /) -> Decimal:
        """Return the balance of `account` not reserved for open orders."""
        return EXACT.subtract(self.balance(account), self.held(account))

    def unlotted(self, account: str, /) -> Decimal:
        """Return the part of a holding account outside open lots (no cost basis)."""
        return EXACT.subtract(self.balance(account), self.state.lotted.get(account, ZERO))

    def balances(self, prefix: str = "", /) -> dict[str, Decimal]:
        """Return the balances of the accounts whose name starts with `prefix`, sorted by name."""
        bal = self.state.balances
        return {a: bal[a] for a in sorted(bal) if a.startswith(prefix)}

    def holdings(self) -> dict[str, Decimal]:
        """Return the balances of every venue and wallet account, sorted by name."""
        bal = self.state.balances
        return {a: bal[a] for a in sorted(bal) if Accounts.is_holding(a)}

    def position(self, venue: str, instrument: str, /, *, wallet: str = "main") -> Position | None:
        """Return the position (open lots, realized PnL) of `instrument` in a venue wallet."""
        return self.state.positions.get(f"{venue}/{wallet}/{instrument}")

    def trace(self, corr: str, /) -> Trace:
        """Return what `corr` did: its transactions, orders, fills, lots and trades."""
        if self.history is None:
            raise LedgerError("`trace` needs a ledger with a `LedgerHistory` (the journal has it)")
        return trace(self.history, corr)

    # -- money in, out and between ------------------------------------------------------------

    def reserve(
        self,
        order_id: str,
        venue: str,
        asset: str,
        amount: Decimal,
        /,
        *,
        corr: str,
        ts: int,
        wallet: str = "main",
    ) -> Hold:
        """Reserve `amount` of a venue wallet's free `asset` for order `order_id`.

        Fills of that order spend the hold first; `release` frees what is left (on cancel, or
        when the order is done).
        """
        st = self.state
        amount = positive("amount", amount)
        if not order_id:
            raise LedgerError("`order_id` must not be empty")
        if order_id in st.holds:
            raise LedgerError(f"`order_id` {order_id} already holds funds")
        account = Accounts.venue(venue, asset, wallet)
        held = st.held.get(account, ZERO)
        free = EXACT.subtract(st.balances.get(account, ZERO), held)
        if amount > free:
            raise LedgerError(f"cannot reserve {amount} `{asset}` in `{account}`, free {free}")
        hold = Hold(
            order_id=order_id, account=account, asset=asset, amount=amount, corr=corr, ts=ts
        )
        st.holds[order_id] = hold
        st.held[account] = EXACT.add(held, amount)
        return hold

    def release(self, order_id: str, /) -> Decimal:
        """Free what order `order_id` still holds and return it (0 if it holds nothing)."""
        st = self.state
        hold = st.holds.pop(order_id, None)
        if hold is None:
            return ZERO
        self._unhold(hold.account, hold.amount)
        return hold.amount

    # -- fills ----------------------------------------------------------------------------------

    def apply_fill(
        self,
        venue: str,
        instrument: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal = ZERO,
        fee_asset: str = "",
        /,
        *,
        corr: str,
        fill_id: str,
        ts: int,
        order_id: str = "",
        wallet: str = "main",
    ) -> Transaction | None:
        """Post a spot fill (`fee_asset` defaults to the quote); open a lot or close lots FIFO.

        A buy moves `qty * price` of the quote out of the venue wallet and `qty` of the base in,
        and opens a lot; a sell does the reverse, consumes lots FIFO and records a `Trade`. A
        fill already applied (same venue and `fill_id`, within the dedupe window) with the same
        terms changes nothing and returns None; with other terms it is refused.
        """
        st = self.state
        m = self._markets.get((venue, wallet, instrument))
        if m is None:
            m = self._markets[venue, wallet, instrument] = Market.of(venue, wallet, instrument)
        fill = Fill(
            venue=venue,
            wallet=wallet,
            instrument=instrument,
            side=side,
            qty=qty,
            price=price,
            fee=fee,
            fee_asset=fee_asset or m.quote,
            fill_id=fill_id,
            order_id=order_id,
        )
        key = f"{venue}/{fill_id}"
        prior = st.fills.get(key)
        if prior is None and st.fills_prev:
            prior = st.fills_prev.get(key)
        if prior is not None:
            if prior != fill:
                raise LedgerError(f"`fill_id` {fill_id} at `{venue}` was applied with other terms")
            return None
        if not fill_id:
            raise LedgerError("`fill_id` must not be empty")
        fee_asset = fill.fee_asset
        take = None
        if fee_asset not in (m.quote, m.base) and type(fee) is Decimal and fee > 0:
            take = plan_take(st, venue, wallet, fee_asset, fee, quantum=self._quantum)
        pos = st.positions.get(m.key)
        plan = plan_fill(
            fill,
            m,
            pos,
            corr=corr,
            ts=ts,
            lot_seq=st.lot_seq + 1,
            trade_id=f"trade-{st.trade_seq + 1}",
            quantum=self._quantum,
            st=st,
            fee_take=take,
        )
        lot, trade = plan.lot, plan.trade
        tx = self._post(
            "fill",
            plan.legs,
            plan.debited,
            corr=corr,
            ts=ts,
            fill=fill,
            lot_id=lot.id if lot is not None else "",
            trade_id=trade.id if trade is not None else "",
            lots_out=lot_moves(st, take) if take is not None and take.parts else (),
            lotted=plan.lotted,
            hold=st.holds.get(order_id) if order_id else None,
        )
        # Past `_post` nothing can fail: the lots and the trade follow the postings.
        fills = st.fills
        fills[key] = fill
        if len(fills) >= self.dedupe_window:
            st.fills_prev = fills
            st.fills = {}
        if pos is None:
            pos = st.positions[m.key] = Position(
                venue=venue, wallet=wallet, instrument=instrument, base=m.base, quote=m.quote
            )
        if lot is not None:
            st.lot_seq += 1
            pos.add(lot)  # the newest acquisition: `seq` order holds
        elif plan.close is not None and trade is not None:
            pos.close(plan.close)
            st.trade_seq += 1
            pos.realized = EXACT.add(pos.realized, trade.pnl)
            if self.history is not None:
                self.history.trades.append(trade)
        if take is not None and take.parts:
            self._apply_take(take, None)
        return tx

    def audit(self) -> None:
        """Re-check every invariant of the books; raise AssertionError naming the first broken.

        The state's own invariants always; with a complete history, also every transaction from
        the first one up (balances, the hash chain, running balances, realized PnL).
        """
        audit(self.state, self.history)

    # -- valuation ------------------------------------------------------------------------------

    def snapshot(self, marks: Mapping[str, Decimal], /, *, ts: int) -> EconomicSnapshot:
        """Value the books at `marks` (per asset, or per `ASSET/<numeraire>`); raise the peak."""
        st = self.state
        bal = st.balances
        held = ((a, st.assets[a], bal[a]) for a in sorted(bal) if Accounts.is_holding(a))
        positions = (st.positions[k] for k in sorted(st.positions))
        snap = value(held, positions, Marks(marks, self.numeraire), ts=ts, peak=st.peak_equity)
        st.peak_equity = snap.peak_equity
        st.max_drawdown_ratio = max(st.max_drawdown_ratio, snap.drawdown_ratio)
        return snap

    def hourly(self, marks: Mapping[str, Decimal], /, *, ts: int) -> EconomicSnapshot | None:
        """Return a snapshot on the first call of each hour (kept as `last_snapshot`); else None.

        Call it as time passes (a timer, each tick): the first call at or after an hour boundary
        takes that hour's snapshot at the marks given. Hours with no call are skipped.
        """
        hour = ts // HOUR_NS
        st = self.state
        if hour <= st.last_hour:
            return None
        snap = self.snapshot(marks, ts=ts)
        st.last_hour = hour
        st.last_snapshot = snap
        if self.history is not None:
            self.history.snapshots.append(snap)
        return snap
