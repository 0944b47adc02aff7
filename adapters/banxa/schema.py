"""The parts of Banxa's JSON that Kinetic reads, as msgspec structs with exact amounts.

Banxa writes amounts as strings or numbers; both decode to `Decimal` here (`Decimal(str(x))` for
a number, so 0.1 stays 0.1). Unknown fields are ignored: Banxa adds fields over time.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Coin(msgspec.Struct, frozen=True, kw_only=True):
    coin_code: str
    coin_name: str = ""
    blockchains: list[dict[str, object]] = msgspec.field(default_factory=list)


class Fiat(msgspec.Struct, frozen=True, kw_only=True):
    fiat_code: str
    fiat_name: str = ""
    fiat_symbol: str = ""


class PaymentMethod(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    paymentType: str = ""  # noqa: N815  (Banxa's spelling)
    status: str = "ACTIVE"


class Price(msgspec.Struct, frozen=True, kw_only=True):
    payment_method_id: int
    coin_code: str
    fiat_code: str
    coin_amount: Decimal
    fiat_amount: Decimal
    fee_amount: Decimal = Decimal(0)
    network_fee: Decimal = Decimal(0)
    spot_price_including_fee: Decimal = Decimal(0)


class Prices(msgspec.Struct, frozen=True, kw_only=True):
    spot_price: Decimal
    prices: list[Price]


class Order(msgspec.Struct, frozen=True, kw_only=True):
    """A Banxa order (buy: `CRYPTO-BUY`, sell: `CRYPTO-SELL`)."""

    id: str
    account_reference: str
    order_type: str
    status: str
    fiat_code: str
    fiat_amount: Decimal | None = None
    coin_code: str
    coin_amount: Decimal | None = None
    wallet_address: str = ""
    """Buy: where the coins go. Sell: Banxa's address the user's coins must be sent to."""
    blockchain: str = ""
    checkout_url: str = ""
    tx_hash: str | None = None
    created_at: str = ""

    @property
    def is_sell(self) -> bool:
        return self.order_type == "CRYPTO-SELL"


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    code: int
    title: str
    detail: str = ""


def decode_amounts(obj: object) -> object:
    """Return `obj` with float numbers turned into exact decimal strings (for `Decimal` fields)."""
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, dict):
        return {k: decode_amounts(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_amounts(v) for v in obj]
    return obj
