"""Define the ramp and wallet bodies of the control API (`/ramp/orders`, `/wallets`).

Amounts are exact decimals, written as JSON strings in answers ("0.01000000") and accepted as
strings or numbers in requests; the route checks they are finite, positive and sane.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from control_api.schemas import Reason, RequestBody

RampIdText = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,80}$")]
UserText = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.@-]{1,80}$")]
FiatText = Annotated[str, Meta(pattern=r"^[A-Z]{3,5}$")]
CoinText = Annotated[str, Meta(pattern=r"^[A-Z0-9]{2,10}$")]


class RampCreate(RequestBody, frozen=True, kw_only=True):
    """Start an on-ramp (`buy` with `fiat_amount`) or an off-ramp (`sell` with `coin_amount`)."""

    side: Literal["buy", "sell"]
    user: UserText
    fiat: FiatText
    coin: CoinText
    network: Annotated[str, Meta(max_length=40)] = ""
    fiat_amount: Decimal | None = None
    coin_amount: Decimal | None = None
    ramp_id: RampIdText | None = None
    """Our order id (the provider's account reference); generated when absent. Idempotent."""


class RampCancel(RequestBody, frozen=True, kw_only=True):
    """Give up a ramp order that is not yet placed at the provider."""

    reason: Reason


class RampStep(msgspec.Struct, frozen=True, kw_only=True):
    """One change of a ramp order, as journaled."""

    seq: int
    ts: int
    stage: str
    provider_status: str
    note: str
    tx_hash: str = ""


class RampOrderView(msgspec.Struct, kw_only=True):
    """A ramp order now, with its history."""

    ramp_id: str
    side: str
    user: str
    fiat: str
    coin: str
    fiat_amount: Decimal | None
    coin_amount: Decimal | None
    stage: str
    provider_status: str
    provider_order_id: str
    tx_hash: str
    created_seq: int
    updated_seq: int
    history: list[RampStep] = msgspec.field(default_factory=list)


class RampOrders(msgspec.Struct, frozen=True, kw_only=True):
    """Ramp orders, oldest first."""

    count: int
    orders: list[RampOrderView]


class RampResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a ramp command did: the command's seq and the order as it is now."""

    corr: str
    command_seq: int
    order: RampOrderView


class WalletBalance(msgspec.Struct, frozen=True, kw_only=True):
    """One asset of a user's custodial wallet: total, reserved for off-ramps, free."""

    asset: str
    balance: Decimal
    held: Decimal
    free: Decimal
    seq: int


class Wallet(msgspec.Struct, frozen=True, kw_only=True):
    """A user's custodial balances."""

    user: str
    balances: list[WalletBalance]
