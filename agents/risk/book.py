"""Keep the gate's own exposure book: balances, reservations and open orders, from venue events.

The gate may not import the ledger (agents import each other's `messages` only), and it must
judge an order in microseconds, so it keeps the few numbers no-leverage and the exposure caps
need: per venue and asset, the balance and the part of it reserved by approved orders still
open; per order, what it still reserves. The ledger stays the books of record; this is a
conservative running view of them.

- Approving a buy reserves qty x price x (1 + fee bound) of the quote asset; a sell reserves
  qty of the base asset. `free = balance - reserved` is what the next order may use.
- A fill moves the balances (cost or proceeds, and the fee in its asset) and releases the
  reservation of the filled part (all of it once nothing is left); a cancel, rejection or
  expiry releases what the order still held.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.risk.messages import Side

_ZERO = Decimal(0)


class OpenOrder(msgspec.Struct, kw_only=True):
    """What an approved order still holds: its open quantity and its reservation."""

    venue: str
    side: Side
    base: str
    asset: str
    """The reserved asset: the quote for a buy, the base for a sell."""
    leaves: Decimal
    reserved: Decimal
    unit: Decimal
    """The reservation per unit of quantity (1 for a sell)."""


class ExposureBook(msgspec.Struct, kw_only=True):
    """Balances and reservations per venue and asset, open orders, and totals over venues."""

    balances: dict[str, dict[str, Decimal]] = msgspec.field(default_factory=dict)
    reserved: dict[str, dict[str, Decimal]] = msgspec.field(default_factory=dict)
    orders: dict[str, OpenOrder] = msgspec.field(default_factory=dict)
    holdings: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """Balance per asset over all venues."""
    pending_buys: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """Open buy quantity per base asset over all venues."""

    @classmethod
    def starting(cls, balances: dict[str, dict[str, Decimal]], /) -> ExposureBook:
        """Return a book holding `balances` (venue -> asset -> amount), nothing reserved."""
        book = cls(balances={venue: dict(assets) for venue, assets in balances.items()})
        for assets in balances.values():
            for asset, amount in assets.items():
                book.holdings[asset] = book.holdings.get(asset, _ZERO) + amount
        return book

    def free(self, venue: str, asset: str, /) -> Decimal:
        """Return the balance of `asset` at `venue` that no open order reserves."""
        held = self.balances.get(venue)
        if held is None:
            return _ZERO
        reserved = self.reserved.get(venue)
        amount = held.get(asset, _ZERO)
        return amount - reserved.get(asset, _ZERO) if reserved else amount

    def inventory(self, asset: str, /) -> Decimal:
        """Return the `asset` held over all venues plus what open buys will add."""
        return self.holdings.get(asset, _ZERO) + self.pending_buys.get(asset, _ZERO)

    def reserve(
        self,
        client_id: str,
        venue: str,
        side: Side,
        base: str,
        quote: str,
        qty: Decimal,
        unit: Decimal,
        /,
    ) -> None:
        """Hold what an approved order may consume: qty x `unit` of quote (buy), qty of base."""
        asset = quote if side == "buy" else base
        amount = qty * unit
        res = self.reserved.get(venue)
        if res is None:
            res = self.reserved[venue] = {}
        res[asset] = res.get(asset, _ZERO) + amount
        if side == "buy":
            self.pending_buys[base] = self.pending_buys.get(base, _ZERO) + qty
        self.orders[client_id] = OpenOrder(
            venue=venue, side=side, base=base, asset=asset, leaves=qty, reserved=amount, unit=unit
        )

    def fill(
        self,
        client_id: str,
        venue: str,
        side: Side,
        base: str,
        quote: str,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_asset: str,
        leaves: Decimal,
        /,
    ) -> None:
        """Apply one fill to the balances and release the filled part of its reservation."""
        notional = qty * price
        if side == "buy":
            self._move(venue, base, qty)
            self._move(venue, quote, -notional)
        else:
            self._move(venue, base, -qty)
            self._move(venue, quote, notional)
        if fee:
            self._move(venue, fee_asset, -fee)
        order = self.orders.get(client_id)
        if order is None:
            return  # not approved by this gate (another run, a manual order): balances only
        if leaves <= _ZERO:
            self.close(client_id)
            return
        filled = min(qty, order.leaves)
        release = min(filled * order.unit, order.reserved)
        order.leaves -= filled
        order.reserved -= release
        self._release(order, release, filled)

    def close(self, client_id: str, /) -> None:
        """Release all an order still holds (canceled, rejected, expired, or fully filled)."""
        order = self.orders.pop(client_id, None)
        if order is not None:
            self._release(order, order.reserved, order.leaves)

    def _release(self, order: OpenOrder, amount: Decimal, qty: Decimal, /) -> None:
        res = self.reserved[order.venue]
        res[order.asset] -= amount
        # Invariant: a venue's reservation of an asset is the sum of its open orders' reserved.
        assert res[order.asset] >= _ZERO, (order, amount)
        if order.side == "buy":
            self.pending_buys[order.base] -= qty

    def _move(self, venue: str, asset: str, amount: Decimal, /) -> None:
        held = self.balances.get(venue)
        if held is None:
            held = self.balances[venue] = {}
        held[asset] = held.get(asset, _ZERO) + amount
        self.holdings[asset] = self.holdings.get(asset, _ZERO) + amount

    def equity(self, asset: str, marks: dict[str, Decimal], /) -> Decimal | None:
        """Return the holdings valued in `asset` at `marks`; None while one has no mark."""
        total = _ZERO
        for held, amount in self.holdings.items():
            if held == asset:
                total += amount
            elif amount:
                mark = marks.get(held)
                if mark is None:
                    return None
                total += amount * mark
        return total
