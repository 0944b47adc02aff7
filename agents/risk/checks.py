"""Judge one aspect of an order each: pure functions over exact Decimals, no state, no clock.

Each rule returns None when the order passes it, or a `Denial`: a stable reason code (what an
operator filters on and a test asserts) and a detail in msgspec's words (the field in
backticks, the bad value, no final period). The gate (`agents.risk.actor`) decides which rules
apply and in what order; keeping them here, apart from the bus, lets each be read and tested in
isolation and keeps the per-order cost visible: a rule is a comparison or two.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

Denial = tuple[str, str]
"""A refusal: (reason code, detail)."""

HALTED: Final = "HALTED"
REDUCING_ONLY: Final = "REDUCING_ONLY"
REDUCING_POSITION: Final = "REDUCING_POSITION"
QTY_NOT_POSITIVE: Final = "QTY_NOT_POSITIVE"
PRICE_NOT_POSITIVE: Final = "PRICE_NOT_POSITIVE"
UNKNOWN_INSTRUMENT: Final = "UNKNOWN_INSTRUMENT"
DUPLICATE_CLIENT_ID: Final = "DUPLICATE_CLIENT_ID"
TICK: Final = "TICK"
LOT: Final = "LOT"
MIN_NOTIONAL: Final = "MIN_NOTIONAL"
STALE_DATA: Final = "STALE_DATA"
NO_MARK: Final = "NO_MARK"
PRICE_BAND: Final = "PRICE_BAND"
MAX_ORDER_QTY: Final = "MAX_ORDER_QTY"
MAX_ORDER_NOTIONAL: Final = "MAX_ORDER_NOTIONAL"
DRAWDOWN_SIZE: Final = "DRAWDOWN_SIZE"
NO_LEVERAGE_CASH: Final = "NO_LEVERAGE_CASH"
NO_LEVERAGE_POSITION: Final = "NO_LEVERAGE_POSITION"
MAX_INVENTORY: Final = "MAX_INVENTORY"
EXPOSURE_INSTRUMENT: Final = "EXPOSURE_INSTRUMENT"
EXPOSURE_TOTAL: Final = "EXPOSURE_TOTAL"
RATE_SUBMIT: Final = "RATE_SUBMIT"
RATE_MODIFY: Final = "RATE_MODIFY"

CODES: Final = (
    HALTED,
    REDUCING_ONLY,
    QTY_NOT_POSITIVE,
    PRICE_NOT_POSITIVE,
    LOT,
    TICK,
    STALE_DATA,
    NO_MARK,
    PRICE_BAND,
    MAX_ORDER_QTY,
    DRAWDOWN_SIZE,
    MIN_NOTIONAL,
    MAX_ORDER_NOTIONAL,
    UNKNOWN_INSTRUMENT,
    DUPLICATE_CLIENT_ID,
    REDUCING_POSITION,
    NO_LEVERAGE_CASH,
    NO_LEVERAGE_POSITION,
    MAX_INVENTORY,
    EXPOSURE_INSTRUMENT,
    EXPOSURE_TOTAL,
    RATE_SUBMIT,
    RATE_MODIFY,
)
"""Every code the gate denies with, in the order it checks them."""

_ZERO = Decimal(0)


def _off_grid(value: Decimal, step: Decimal, /) -> bool:
    try:
        return value % step != _ZERO
    except InvalidOperation:  # the quotient needs more digits than the context: not on the grid
        return True


def check_lot(qty: Decimal, lot: Decimal, /) -> Denial | None:
    """Deny a quantity that is not a whole number of lots."""
    if _off_grid(qty, lot):
        return LOT, f"`qty` {qty} is not a multiple of lot {lot}"
    return None


def check_tick(price: Decimal, tick: Decimal, /) -> Denial | None:
    """Deny a limit price that is not a whole number of ticks."""
    if _off_grid(price, tick):
        return TICK, f"`price` {price} is not a multiple of tick {tick}"
    return None


def check_min_notional(notional: Decimal, least: Decimal, /) -> Denial | None:
    """Deny an order too small for the venue to accept."""
    if notional < least:
        return MIN_NOTIONAL, f"notional {notional} is below min notional {least}"
    return None


def check_stale(instrument: str, now: int, seen: int | None, stale_ns: int, /) -> Denial | None:
    """Deny an order when the instrument's market data is missing or older than `stale_ns`."""
    if seen is None:
        return STALE_DATA, f"no market data for `{instrument}` yet"
    age = now - seen
    if age > stale_ns:
        return STALE_DATA, (
            f"market data for `{instrument}` is {age // 1_000_000} ms old, "
            f"the limit is {stale_ns // 1_000_000} ms"
        )
    return None


def check_price_band(
    price: Decimal, mark: Decimal, band: Decimal, band_bps: Decimal, /
) -> Denial | None:
    """Deny a limit price more than `band` (a fraction, `band_bps` in bps) from the last mark."""
    # Invariant: mark > 0 (marks are prices from market data; zero prices are not marks).
    if abs(price - mark) > mark * band:
        return PRICE_BAND, (
            f"`price` {price} is more than {band_bps} bps away from the mark {mark}"
        )
    return None


def check_max(code: str, what: str, value: Decimal, limit: Decimal, /) -> Denial | None:
    """Deny an order whose `what` exceeds `limit` (max order qty, max order notional)."""
    if value > limit:
        return code, f"{what} {value} exceeds the limit {limit}"
    return None


def check_drawdown_size(
    what: str, value: Decimal, limit: Decimal, multiplier: Decimal, tier: int, /
) -> Denial | None:
    """Deny an order within `limit` but above `limit` scaled by the drawdown tier in force."""
    scaled = limit * multiplier
    if value > scaled:
        return DRAWDOWN_SIZE, (
            f"{what} {value} exceeds {scaled} ({multiplier} x the limit {limit} "
            f"while drawdown tier {tier} holds)"
        )
    return None


def check_cash(cost: Decimal, free: Decimal, asset: str, venue: str, /) -> Denial | None:
    """Deny a buy whose cost, fees bounded, exceeds the free cash (no leverage)."""
    if cost > free:
        return NO_LEVERAGE_CASH, (
            f"buy costs up to {cost} {asset}, only {free} {asset} is free at `{venue}`"
        )
    return None


def check_position(qty: Decimal, free: Decimal, asset: str, venue: str, /) -> Denial | None:
    """Deny a sell of more than the free position (spot: no shorting)."""
    if qty > free:
        return NO_LEVERAGE_POSITION, (
            f"`qty` {qty} exceeds the free position of {free} {asset} at `{venue}`"
        )
    return None


def check_reducing(side: str, /) -> Denial | None:
    """Deny a buy while REDUCING: on spot, with no shorts, only a sell reduces a position."""
    if side == "buy":
        return REDUCING_POSITION, "a buy cannot reduce a spot position while REDUCING"
    return None


def check_inventory(after: Decimal, limit: Decimal, asset: str, /) -> Denial | None:
    """Deny a buy that would take the inventory of `asset` (held + open buys) above `limit`."""
    if after > limit:
        return MAX_INVENTORY, f"inventory would be {after} {asset}, the limit is {limit}"
    return None


def check_exposure(code: str, what: str, after: Decimal, limit: Decimal, /) -> Denial | None:
    """Deny a buy that would take an exposure (an instrument's, or the total) above `limit`."""
    if after > limit:
        return code, f"{what} would be {after}, the limit is {limit}"
    return None
