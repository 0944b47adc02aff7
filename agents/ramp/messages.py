"""Define the ramp agent's contract: operator commands, provider and wallet effects, events.

One ramp order (one `corr`, chosen by whoever creates it: `ramp_id`) goes:

    on-ramp (buy, fiat -> coin):
      operator --CreateRampOrder--> ramp --AssignDepositAddress--> wallets (once per user, coin)
      ramp --PlaceRampOrder--> provider; webhooks --RampWebhook--> ramp --FetchRampOrder--> provider
      provider status `complete` --> ramp credits the user's wallet (WalletCredited)

    off-ramp (sell, coin -> fiat):
      operator --CreateRampOrder--> ramp holds the coins (WalletHeld)
      [above the configured amount: RequestApproval --> approvals, wait for the decision]
      ramp --PlaceRampOrder--> provider (its answer names the provider's deposit address)
      ramp --SendCrypto--> wallets; --ConfirmSellOrder(tx hash)--> provider
      provider status `complete` --> ramp records the fiat payout (FiatPaidOut)

Every command to the outside is a write-ahead effect (`effect = True`) with an idempotency key
derived from the ramp id, so a retry or a reconciliation after a crash asks instead of acting
twice: the provider finds an order by our id (its account reference), the wallet a transfer by
its transfer id. Amounts are exact `Decimal`s.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from runtime import Message

RampSide = Literal["buy", "sell"]
"""`buy`: an on-ramp (the user pays fiat, gets coins); `sell`: an off-ramp."""

ProviderStatus = Literal[
    "pendingPayment",
    "waitingPayment",
    "paymentReceived",
    "inProgress",
    "coinTransferred",
    "cryptoTransferred",
    "complete",
    "cancelled",
    "declined",
    "expired",
    "refunded",
]
"""Banxa's order statuses, in their spelling."""

Stage = Literal[
    "awaiting_address",
    "awaiting_approval",
    "placing",
    "open",
    "sending",
    "confirming",
    "complete",
    "failed",
    "rejected",
]
"""Where our side of a ramp order is (the provider's status is kept beside it)."""

# -- operator commands ----------------------------------------------------------------------


class CreateRampOrder(Message, frozen=True, kw_only=True, tag="ramp.CreateRampOrder"):
    """Start an on-ramp (`buy`, `fiat_amount` set) or an off-ramp (`sell`, `coin_amount` set).

    Idempotent by `ramp_id`: a second command with the same id changes nothing.
    """

    ramp_id: str
    side: RampSide
    user: str
    fiat: str
    coin: str
    network: str = ""
    fiat_amount: Decimal | None = None
    coin_amount: Decimal | None = None
    requested_by: str = ""
    """Who asked (a token name); never the one who approves it."""


class CancelRampOrder(Message, frozen=True, kw_only=True, tag="ramp.CancelRampOrder"):
    """Give up a ramp order not yet placed at the provider (or one awaiting an approval)."""

    ramp_id: str
    reason: str
    by: str = ""


# -- provider effects and results -------------------------------------------------------------


class PlaceRampOrder(Message, frozen=True, kw_only=True, tag="ramp.PlaceRampOrder"):
    """Create the order at the provider; `ramp_id` is its account reference there."""

    effect: ClassVar[bool] = True

    ramp_id: str
    side: RampSide
    user: str
    fiat: str
    coin: str
    network: str = ""
    fiat_amount: Decimal | None = None
    coin_amount: Decimal | None = None
    wallet_address: str = ""
    """Where the provider sends the coins of an on-ramp (the user's deposit address)."""

    @property
    def idem_key(self) -> str:
        return f"ramp:place:{self.ramp_id}"


class FetchRampOrder(Message, frozen=True, kw_only=True, tag="ramp.FetchRampOrder"):
    """Read the order back from the provider (after every webhook, and on a poll timer)."""

    effect: ClassVar[bool] = True

    ramp_id: str
    provider_order_id: str
    attempt: int
    """Makes each fetch's key unique: a read may be repeated, it is never merged."""

    @property
    def idem_key(self) -> str:
        return f"ramp:fetch:{self.ramp_id}:{self.attempt}"


class ConfirmSellOrder(Message, frozen=True, kw_only=True, tag="ramp.ConfirmSellOrder"):
    """Tell the provider the hash of the transfer that paid a sell order."""

    effect: ClassVar[bool] = True

    ramp_id: str
    provider_order_id: str
    tx_hash: str

    @property
    def idem_key(self) -> str:
        return f"ramp:confirm:{self.ramp_id}"


class RampOrderPlaced(Message, frozen=True, kw_only=True, tag="ramp.RampOrderPlaced"):
    """The provider holds the order (an input from the provider adapter)."""

    ramp_id: str
    provider_order_id: str
    status: str
    """The provider's status (see `ProviderStatus`); an unknown one is logged, never applied."""
    checkout_url: str = ""
    deposit_address: str = ""
    """For a sell order: where the user's coins must go."""
    fiat_amount: Decimal | None = None
    coin_amount: Decimal | None = None


class RampOrderRefusedByProvider(
    Message, frozen=True, kw_only=True, tag="ramp.RampOrderRefusedByProvider"
):
    """The provider refused to create the order (a 4xx): nothing was created there."""

    ramp_id: str
    code: str
    detail: str


class RampOrderFetched(Message, frozen=True, kw_only=True, tag="ramp.RampOrderFetched"):
    """What the provider says of an order now: the only status the ramp agent acts on."""

    ramp_id: str
    provider_order_id: str
    status: str
    """The provider's status (see `ProviderStatus`); an unknown one is logged, never applied."""
    fiat_amount: Decimal | None = None
    coin_amount: Decimal | None = None
    tx_hash: str = ""
    deposit_address: str = ""
    """For a sell order: where the user's coins must go."""


class SellOrderConfirmed(Message, frozen=True, kw_only=True, tag="ramp.SellOrderConfirmed"):
    """The provider accepted the transfer hash of a sell order."""

    ramp_id: str
    provider_order_id: str


class RampWebhook(Message, frozen=True, kw_only=True, tag="ramp.RampWebhook"):
    """A verified status notification from the provider (an input from the webhook ingress).

    Only a hint: the agent re-fetches the order before acting on it.
    """

    provider: str
    provider_order_id: str
    status: str
    nonce: str = ""


# -- wallet effects and results ----------------------------------------------------------------


class AssignDepositAddress(Message, frozen=True, kw_only=True, tag="ramp.AssignDepositAddress"):
    """Ask the wallet provider for the user's deposit address of `asset` (stable per pair)."""

    effect: ClassVar[bool] = True

    user: str
    asset: str
    network: str = ""

    @property
    def idem_key(self) -> str:
        return f"wallet:addr:{self.user}:{self.asset}:{self.network}"


class DepositAddressAssigned(
    Message, frozen=True, kw_only=True, tag="ramp.DepositAddressAssigned"
):
    """The wallet provider's deposit address for (user, asset)."""

    user: str
    asset: str
    network: str = ""
    address: str


class SendCrypto(Message, frozen=True, kw_only=True, tag="ramp.SendCrypto"):
    """Send coins from a user's custodial wallet to an address; once per `transfer_id`."""

    effect: ClassVar[bool] = True

    transfer_id: str
    ramp_id: str
    user: str
    asset: str
    network: str = ""
    amount: Decimal
    to_address: str

    @property
    def idem_key(self) -> str:
        return f"wallet:send:{self.transfer_id}"


class CryptoSent(Message, frozen=True, kw_only=True, tag="ramp.CryptoSent"):
    """The transfer was broadcast; `tx_hash` identifies it on chain."""

    transfer_id: str
    ramp_id: str
    tx_hash: str


class CryptoSendFailed(Message, frozen=True, kw_only=True, tag="ramp.CryptoSendFailed"):
    """The wallet provider refused the transfer: no coins left the wallet."""

    transfer_id: str
    ramp_id: str
    code: str
    detail: str


class TransferConfirmed(Message, frozen=True, kw_only=True, tag="ramp.TransferConfirmed"):
    """A sent transfer reached `confirmations` confirmations."""

    transfer_id: str
    ramp_id: str
    tx_hash: str
    confirmations: int


# -- events (outputs of the ramp agent) ---------------------------------------------------------


class RampOrderUpdated(Message, frozen=True, kw_only=True, tag="ramp.RampOrderUpdated"):
    """The whole current view of one ramp order, published on every change (the read model)."""

    ramp_id: str
    side: RampSide
    user: str
    fiat: str
    coin: str
    fiat_amount: Decimal | None
    coin_amount: Decimal | None
    stage: Stage
    provider_status: str
    provider_order_id: str
    note: str
    """What just happened, for people (`status inProgress -> coinTransferred`)."""
    tx_hash: str = ""


class RampOrderRefused(Message, frozen=True, kw_only=True, tag="ramp.RampOrderRefused"):
    """A create command that changes nothing, with a stable `code` and the reason."""

    ramp_id: str
    code: Literal["duplicate", "invalid", "insufficient_funds", "unknown_order", "too_late"]
    detail: str


WalletReason = Literal["onramp", "offramp_hold", "offramp_release", "offramp_sent", "refund"]


class WalletChanged(Message, frozen=True, kw_only=True, tag="ramp.WalletChanged"):
    """A user's custodial balance of `asset` after a movement (`delta` on the total)."""

    user: str
    asset: str
    balance: Decimal
    """Total held for the user, including `held`."""
    held: Decimal
    """Reserved for off-ramps in flight."""
    delta: Decimal
    reason: WalletReason
    ramp_id: str


class FiatPaidOut(Message, frozen=True, kw_only=True, tag="ramp.FiatPaidOut"):
    """The provider completed a sell order: `amount` of `fiat` went to the user's bank."""

    ramp_id: str
    user: str
    fiat: str
    amount: Decimal
