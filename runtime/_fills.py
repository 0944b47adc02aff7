"""Turn one spot fill into its postings and its lot or trade: the posting rules for fills.

Kept apart from the ledger's write path so the rules read on one page (docs/ledger.md has the
same table). Nothing here writes: `plan_fill` returns what the fill would post and open or close,
or raises `LedgerError`, and the ledger applies the plan only once every check has passed.

    buy  qty @ price:  venue/base +qty      trading/base -qty
                       venue/quote -qty*p   trading/quote +qty*p      then a lot of qty opens
    sell qty @ price:  venue/base -qty      trading/base +qty
                       venue/quote +qty*p   trading/quote -cost       pnl/quote -(qty*p - cost)
    fee f in asset F:  venue/F -f           fees/F +f
    ... F a third asset held in lots:  trading(F/Q)/Q -c   fees/Q +c   (the lots' cost, charged
                       to this fill's lot or trade when Q is its quote; see `runtime._ledger_moves`)
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from runtime._errors import LedgerError
from runtime._ledger_moves import Take, cost_legs
from runtime._lots import EXACT, ZERO, ClosePlan, Lot, Position, Trade, plan_close
from runtime._postings import Accounts, Fill, LedgerState, Posting, location, positive


class Market(msgspec.Struct, frozen=True, gc=False):
    """The accounts one instrument's fills touch in one venue wallet, named once."""

    key: str
    base: str
    quote: str
    venue_base: str
    venue_quote: str
    trading_base: str
    trading_quote: str
    pnl: str

    @classmethod
    def of(cls, venue: str, wallet: str, instrument: str, /) -> Market:
        """Return the market of `instrument` (`BASE/QUOTE`) in a venue wallet."""
        base, sep, quote = instrument.partition("/")
        if not sep or not base or not quote or "/" in quote:
            raise LedgerError(f"`instrument` must be BASE/QUOTE, got {instrument!r}")
        location(venue, wallet)
        return cls(
            f"{venue}/{wallet}/{instrument}",
            base,
            quote,
            Accounts.venue(venue, base, wallet),
            Accounts.venue(venue, quote, wallet),
            Accounts.trading(venue, instrument, base),
            Accounts.trading(venue, instrument, quote),
            Accounts.pnl(venue, instrument, quote),
        )


class FillPlan(msgspec.Struct, frozen=True, gc=False):
    """What a fill posts, which venue accounts it debits, and the lot or trade it makes."""

    legs: tuple[Posting, ...]
    debited: tuple[str, ...]
    lotted: tuple[tuple[str, Decimal], ...]
    """How the open-lot quantity of each holding account changes."""
    lot: Lot | None
    close: ClosePlan | None
    trade: Trade | None


def plan_fill(
    fill: Fill,
    m: Market,
    pos: Position | None,
    /,
    *,
    corr: str,
    ts: int,
    lot_seq: int,
    trade_id: str,
    quantum: Decimal,
    st: LedgerState | None = None,
    fee_take: Take | None = None,
) -> FillPlan:
    """Return the plan of `fill` against the position `pos`, or raise `LedgerError`.

    `fee_take` is how a fee in a third asset leaves its holding (`plan_take`), `st` the state
    it was planned on; without it such a fee is posted but charged to no lot or trade.
    """
    qty = positive("qty", fill.qty)
    price = positive("price", fill.price)
    fee = fill.fee
    if type(fee) is not Decimal or not fee.is_finite() or fee < 0:
        raise LedgerError(f"`fee` must be a `Decimal` >= 0, got {fee!r}")
    fee_asset = fill.fee_asset
    notional = EXACT.multiply(qty, price)
    base_fee = fee if fee_asset == m.base else ZERO
    quote_fee = fee if fee_asset == m.quote else ZERO
    # A third-asset fee spends that asset's lots (unlotted first): their cost is this fill's fee.
    fee_legs: list[Posting] = []
    if fee_take is not None and fee_take.parts and st is not None:
        fee_legs = cost_legs(st, fee_take, "fees")
        for key, part in fee_take.parts:
            if st.positions[key].quote == m.quote:
                quote_fee = EXACT.add(quote_fee, EXACT.add(part.cost, part.fee))
    lot = close = trade = None
    if fill.side == "buy":
        # A fee in the base asset leaves less to hold for the same cost: the lot is qty - fee.
        lot_qty = EXACT.subtract(qty, base_fee)
        if lot_qty <= 0:
            raise LedgerError(f"`fee` must be < `qty` {qty} when paid in `{m.base}`, got {fee}")
        legs = [
            Posting(m.venue_base, m.base, qty),
            Posting(m.trading_base, m.base, -qty),
            Posting(m.venue_quote, m.quote, -notional),
            Posting(m.trading_quote, m.quote, notional),
        ]
        debited: tuple[str, ...] = (m.venue_quote,)
        lotted: tuple[tuple[str, Decimal], ...] = ((m.venue_base, lot_qty),)
        lot = Lot(
            id=f"lot-{lot_seq}",
            seq=lot_seq,
            corr=corr,
            fill_id=fill.fill_id,
            ts=ts,
            price=price,
            qty=lot_qty,
            cost=notional,
            fee=quote_fee,
        )
    elif fill.side == "sell":
        # A fee in the base asset is base given up with no proceeds: the lots give qty + fee.
        need = EXACT.add(qty, base_fee)
        lots = pos.lots if pos is not None else ()
        close = plan_close(lots, need, trade_id=trade_id, quantum=quantum)
        if close is None:
            held = pos.open_qty() if pos is not None else ZERO
            raise LedgerError(
                f"`qty` {need} exceeds the open lots of `{fill.instrument}` in"
                f" `{fill.venue}/{fill.wallet}`, {held}"
            )
        # The proceeds come from the cost the trading account held for those lots, plus the gain.
        gain = EXACT.subtract(notional, close.cost)
        legs = [
            Posting(m.venue_base, m.base, -qty),
            Posting(m.trading_base, m.base, qty),
            Posting(m.venue_quote, m.quote, notional),
            Posting(m.trading_quote, m.quote, -close.cost),
        ]
        if gain:
            legs.append(Posting(m.pnl, m.quote, -gain))
        debited = (m.venue_base,)
        lotted = ((m.venue_base, -need),)
        fees = EXACT.add(close.fee, quote_fee)
        trade = Trade(
            id=trade_id,
            corr=corr,
            fill_id=fill.fill_id,
            order_id=fill.order_id,
            ts=ts,
            venue=fill.venue,
            wallet=fill.wallet,
            instrument=fill.instrument,
            qty=qty,
            price=price,
            proceeds=notional,
            cost=close.cost,
            fees=fees,
            pnl=EXACT.subtract(gain, fees),
            closes=close.closes,
        )
    else:
        raise LedgerError(f"`side` must be 'buy' or 'sell', got {fill.side!r}")
    if fee:
        paid_from = Accounts.venue(fill.venue, fee_asset, fill.wallet)
        legs.append(Posting(paid_from, fee_asset, -fee))
        legs.append(Posting(Accounts.fees(fill.venue, fee_asset), fee_asset, fee))
        debited += (paid_from,)
        if fee_legs and fee_take is not None:
            legs.extend(fee_legs)
            lotted += ((paid_from, -fee_take.lotted),)
    return FillPlan(tuple(legs), debited, lotted, lot, close, trade)
