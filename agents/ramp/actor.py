"""Run ramp orders: on-ramps credit a user's custodial wallet, off-ramps send coins and pay fiat.

The desk is deterministic, like every actor: it never talks to Banxa or a wallet itself. It
emits write-ahead effects (`PlaceRampOrder`, `FetchRampOrder`, `ConfirmSellOrder` to the provider
adapter; `AssignDepositAddress`, `SendCrypto` to the wallet adapter) and acts on their results,
which come back as journaled inputs. That is what makes the money exactly-once across a crash:
the wallet credit of an on-ramp happens in the same handler that records the provider's
`complete`, so recovery (snapshot + journal replay) rebuilds it once; a `SendCrypto` is marked
sent in the handler that emits it, and one that was journaled but never acknowledged goes to the
wallet adapter's `reconcile` (asked by transfer id), never out again blindly.

A webhook is only a hint: the desk re-fetches the order and acts on what the provider says now
(Banxa's own advice). Duplicate webhooks (same order and status) are dropped before any fetch;
statuses move only forward (`orders.advances`); terminal states are final. A poll timer fetches
open orders too, so a lost webhook delays an order but never strands it.

The custodial wallets are held in a `runtime.Ledger` inside the desk's state: accounts
`venue:custody/asset:<coin>/wallet:<user>` (free) and `...wallet:<user>:held` (reserved for
off-ramps in flight), the provider's side as `external:<provider>/asset:<coin>`, and fiat paid out
as `venue:bank/asset:<fiat>/wallet:<user>`. Every transaction carries the ramp id as `corr`.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.ramp.messages import (
    AssignDepositAddress,
    CancelRampOrder,
    ConfirmSellOrder,
    CreateRampOrder,
    CryptoSendFailed,
    CryptoSent,
    DepositAddressAssigned,
    FetchRampOrder,
    FiatPaidOut,
    PlaceRampOrder,
    RampOrderFetched,
    RampOrderPlaced,
    RampOrderRefused,
    RampOrderRefusedByProvider,
    RampOrderUpdated,
    RampSide,
    RampWebhook,
    SellOrderConfirmed,
    SendCrypto,
    Stage,
    TransferConfirmed,
    WalletChanged,
    WalletReason,
)
from agents.ramp.orders import FAILED, TERMINAL, advances, is_status
from runtime import (
    Accounts,
    Actor,
    ApprovalGranted,
    ApprovalRejected,
    ConfigBase,
    EffectFailed,
    EffectReconciled,
    Ledger,
    LedgerState,
    RequestApproval,
    TimerFired,
)

CUSTODY = "custody"
"""The ledger venue of the custodial wallets."""
BANK = "bank"
"""The ledger venue where fiat paid out to users is recorded."""
ZERO = Decimal(0)


class RampDeskConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of kind `ramp_desk`."""

    provider: str = "banxa"
    """Adapter name of the ramp provider."""
    wallets: str = "wallets"
    """Adapter name of the wallet provider."""
    approvals: str = "approvals"
    """Actor name of the approvals desk."""
    approval_above: dict[str, Decimal] = msgspec.field(default_factory=dict)
    """Off-ramps of more than this amount of a coin (`{ BTC = "0.5" }`) wait for an approval."""
    approval_timeout_secs: float = 3600.0
    """An approval not given in this time rejects the off-ramp (deterministically)."""
    poll_secs: float = 30.0
    """Fetch every open order this often, in case a webhook is lost."""
    retry_secs: float = 5.0
    """Wait before retrying a provider or wallet command that failed."""
    max_retries: int = 10
    """Give up a command after this many failures in a row (the order is marked failed)."""

    def __post_init__(self) -> None:
        if self.poll_secs <= 0 or self.retry_secs <= 0:
            raise ValueError("`poll_secs` and `retry_secs` must be > 0")
        for coin, amount in self.approval_above.items():
            if amount < 0:
                raise ValueError(f"`approval_above.{coin}` must be >= 0, got {amount}")


class RampOrder(msgspec.Struct, kw_only=True):
    """One ramp order as the desk tracks it."""

    ramp_id: str
    side: RampSide
    user: str
    fiat: str
    coin: str
    network: str
    fiat_amount: Decimal | None
    coin_amount: Decimal | None
    requested_by: str
    stage: Stage
    provider_status: str = ""
    provider_order_id: str = ""
    deposit_address: str = ""
    """The provider's address a sell order's coins go to."""
    tx_hash: str = ""
    fetches: int = 0
    failures: int = 0
    seen: list[str] = msgspec.field(default_factory=list)
    """Webhook statuses already acted on (duplicates are dropped)."""
    held: bool = False
    sent: bool = False
    credited: bool = False
    paid_out: bool = False
    poll_timer: int = -1

    @property
    def finished(self) -> bool:
        return self.stage in ("complete", "failed", "rejected")


class RampState(msgspec.Struct, kw_only=True):
    """Ramp orders by id, the provider's ids, deposit addresses, the wallets' ledger."""

    orders: dict[str, RampOrder] = msgspec.field(default_factory=dict)
    by_provider: dict[str, str] = msgspec.field(default_factory=dict)
    addresses: dict[str, str] = msgspec.field(default_factory=dict)
    """`user|coin|network` -> deposit address."""
    waiting: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """`user|coin|network` -> on-ramps waiting for that address."""
    ledger: LedgerState = msgspec.field(default_factory=LedgerState)
    duplicates: int = 0
    """Webhooks dropped as already seen."""


def _addr_key(user: str, coin: str, network: str) -> str:
    return f"{user}|{coin}|{network}"


class RampDesk(Actor):
    """Own every ramp order's lifecycle and the custodial wallets it moves."""

    Params = RampDeskConfig
    state: RampState

    def __init__(self, params: RampDeskConfig | None = None) -> None:
        self.params = params or RampDeskConfig()
        self.state = RampState()
        self.ledger = Ledger(state=self.state.ledger)

    def restore(self, data: bytes, /) -> None:
        super().restore(data)
        self.ledger = Ledger(state=self.state.ledger)

    def on_start(self) -> None:
        sub = self.ctx.subscribe
        for mtype in (
            CreateRampOrder,
            CancelRampOrder,
            RampOrderPlaced,
            RampOrderRefusedByProvider,
            RampOrderFetched,
            SellOrderConfirmed,
            RampWebhook,
            DepositAddressAssigned,
            CryptoSent,
            CryptoSendFailed,
            TransferConfirmed,
            ApprovalGranted,
            ApprovalRejected,
            EffectReconciled,
        ):
            sub(mtype)

    # -- queries (for tests and the demo; the API reads the events) ---------------------------

    def wallet(self, user: str, asset: str, /) -> tuple[Decimal, Decimal]:
        """Return (free, held) of `asset` in `user`'s custodial wallet."""
        led = self.ledger
        return (
            led.balance(Accounts.venue(CUSTODY, asset, user)),
            led.balance(Accounts.venue(CUSTODY, asset, f"{user}:held")),
        )

    # -- operator commands --------------------------------------------------------------------

    def on_create(self, msg: CreateRampOrder) -> None:
        st = self.state
        problem = _invalid(msg)
        if msg.ramp_id in st.orders:
            self._refuse(msg.ramp_id, "duplicate", f"ramp order `{msg.ramp_id}` exists already")
            return
        if problem:
            self._refuse(msg.ramp_id, "invalid", problem)
            return
        order = RampOrder(
            ramp_id=msg.ramp_id,
            side=msg.side,
            user=msg.user,
            fiat=msg.fiat.upper(),
            coin=msg.coin.upper(),
            network=msg.network,
            fiat_amount=msg.fiat_amount,
            coin_amount=msg.coin_amount,
            requested_by=msg.requested_by,
            stage="placing",
        )
        if order.side == "sell":
            amount = order.coin_amount or ZERO
            free, _ = self.wallet(order.user, order.coin)
            if free < amount:
                self._refuse(
                    msg.ramp_id,
                    "insufficient_funds",
                    f"{order.user} holds {free} {order.coin} free, the off-ramp needs {amount}",
                )
                return
            st.orders[order.ramp_id] = order
            self._hold(order, amount)
            limit = self.params.approval_above.get(order.coin)
            if limit is not None and amount > limit:
                order.stage = "awaiting_approval"
                self._update(order, f"above {limit} {order.coin}: waiting for an approval")
                self.ctx.send(
                    self.params.approvals,
                    RequestApproval(
                        request_id=_approval_id(order.ramp_id),
                        action="ramp.offramp",
                        detail=f"off-ramp {amount} {order.coin} of {order.user} to {order.fiat}",
                        requested_by=order.requested_by,
                        timeout_secs=self.params.approval_timeout_secs,
                    ),
                    corr=order.ramp_id,
                )
                return
            self._place(order, "created")
            return
        st.orders[order.ramp_id] = order
        key = _addr_key(order.user, order.coin, order.network)
        if key in st.addresses:
            self._place(order, "created")
            return
        order.stage = "awaiting_address"
        self._update(order, "created; asking the wallet for a deposit address")
        waiting = st.waiting.setdefault(key, [])
        waiting.append(order.ramp_id)
        if len(waiting) == 1:
            self._ask_address(order.user, order.coin, order.network, corr=order.ramp_id)

    def on_cancel(self, msg: CancelRampOrder) -> None:
        order = self.state.orders.get(msg.ramp_id)
        if order is None:
            self._refuse(msg.ramp_id, "unknown_order", f"no ramp order `{msg.ramp_id}`")
            return
        if order.stage not in ("awaiting_address", "awaiting_approval"):
            self._refuse(
                msg.ramp_id,
                "too_late",
                f"ramp order `{msg.ramp_id}` is {order.stage}; only one not yet placed cancels",
            )
            return
        self._release(order)
        order.stage = "rejected"
        self._update(order, f"cancelled by {msg.by or 'operator'}: {msg.reason}")

    # -- approvals ------------------------------------------------------------------------------

    def on_granted(self, msg: ApprovalGranted) -> None:
        order = self._awaiting_approval(msg.request_id)
        if order is not None:
            self._place(order, f"approved by {msg.by}")

    def on_rejected(self, msg: ApprovalRejected) -> None:
        order = self._awaiting_approval(msg.request_id)
        if order is None:
            return
        self._release(order)
        order.stage = "rejected"
        self._update(order, f"approval rejected by {msg.by}: {msg.reason}")

    def _awaiting_approval(self, request_id: str) -> RampOrder | None:
        if not request_id.startswith("ramp:"):
            return None
        order = self.state.orders.get(request_id.removeprefix("ramp:"))
        if order is None or order.stage != "awaiting_approval":
            return None
        return order

    # -- wallet results -------------------------------------------------------------------------

    def on_address(self, msg: DepositAddressAssigned) -> None:
        st = self.state
        key = _addr_key(msg.user, msg.asset, msg.network)
        st.addresses[key] = msg.address
        for ramp_id in st.waiting.pop(key, []):
            order = st.orders[ramp_id]
            if order.stage == "awaiting_address":
                self._place(order, f"deposit address {msg.address}")

    def on_sent(self, msg: CryptoSent) -> None:
        order = self.state.orders.get(msg.ramp_id)
        if order is None or order.tx_hash:
            return  # a second report of the same transfer (after a reconciliation, say)
        order.tx_hash = msg.tx_hash
        amount = order.coin_amount or ZERO
        self.ledger.withdraw(
            CUSTODY,
            order.coin,
            amount,
            corr=order.ramp_id,
            ts=self.ctx.now,
            wallet=f"{order.user}:held",
            dest=self.params.provider,
        )
        order.held = False
        self._wallet_changed(order, -amount, "offramp_sent")
        order.stage = "confirming"
        self._update(order, f"sent {amount} {order.coin}, tx {msg.tx_hash}")
        self._confirm(order)

    def on_send_failed(self, msg: CryptoSendFailed) -> None:
        order = self.state.orders.get(msg.ramp_id)
        if order is None or order.tx_hash or order.finished:
            return
        self._release(order)
        order.stage = "failed"
        self._update(order, f"wallet refused the transfer: {msg.code}: {msg.detail}")

    def on_transfer_confirmed(self, msg: TransferConfirmed) -> None:
        order = self.state.orders.get(msg.ramp_id)
        if order is not None and not order.finished:
            self._update(order, f"transfer {msg.tx_hash} has {msg.confirmations} confirmations")

    # -- provider results -------------------------------------------------------------------------

    def on_placed(self, msg: RampOrderPlaced) -> None:
        st = self.state
        order = st.orders.get(msg.ramp_id)
        if order is None or order.provider_order_id:
            return  # a second answer for the same account reference: one order there
        order.provider_order_id = msg.provider_order_id
        order.failures = 0
        st.by_provider[msg.provider_order_id] = order.ramp_id
        if msg.coin_amount is not None and order.coin_amount is None:
            order.coin_amount = msg.coin_amount
        if msg.fiat_amount is not None and order.fiat_amount is None:
            order.fiat_amount = msg.fiat_amount
        order.stage = "open"
        if msg.deposit_address:
            order.deposit_address = msg.deposit_address
        status = msg.status if is_status(msg.status) else ""
        self._status(order, status, f"placed as {msg.provider_order_id}")
        order.poll_timer = self.ctx.schedule(
            _ns(self.params.poll_secs), key=f"poll:{order.ramp_id}", every=True
        )
        self._after_status(order)

    def on_provider_refused(self, msg: RampOrderRefusedByProvider) -> None:
        order = self.state.orders.get(msg.ramp_id)
        if order is None or order.provider_order_id or order.finished:
            return
        self._release(order)
        order.stage = "failed"
        self._update(order, f"provider refused the order: {msg.code}: {msg.detail}")

    def on_webhook(self, msg: RampWebhook) -> None:
        st = self.state
        ramp_id = st.by_provider.get(msg.provider_order_id)
        if ramp_id is None:
            self.ctx.log.warning(
                "ramp_webhook_unknown_order",
                provider_order_id=msg.provider_order_id,
                status=msg.status,
            )
            return
        order = st.orders[ramp_id]
        if msg.status in order.seen or order.provider_status in TERMINAL:
            st.duplicates += 1
            return
        order.seen.append(msg.status)
        self._fetch(order)

    def on_fetched(self, msg: RampOrderFetched) -> None:
        order = self.state.orders.get(msg.ramp_id)
        if order is None or not order.provider_order_id:
            return
        order.failures = 0
        if msg.deposit_address and not order.deposit_address:
            order.deposit_address = msg.deposit_address
        if msg.coin_amount is not None and order.side == "buy":
            order.coin_amount = msg.coin_amount  # what the provider actually delivers
        if msg.fiat_amount is not None and order.side == "sell":
            order.fiat_amount = msg.fiat_amount  # what the provider actually pays out
        if not is_status(msg.status):
            self.ctx.log.warning("ramp_status_unknown", ramp_id=order.ramp_id, status=msg.status)
            return
        if advances(order.side, order.provider_status, msg.status):
            self._status(order, msg.status, "")
        self._after_status(order)

    def on_confirmed(self, msg: SellOrderConfirmed) -> None:
        order = self.state.orders.get(msg.ramp_id)
        if order is not None and order.stage == "confirming":
            order.stage = "open"
            self._update(order, "provider accepted the transfer hash")

    # -- failures, reconciliation, timers ---------------------------------------------------------

    def on_effect_failed(self, msg: EffectFailed) -> None:
        if not msg.idem_key.startswith(("ramp:", "wallet:")):
            return
        order = self._order_of_key(msg.idem_key)
        self.ctx.log.warning("ramp_command_failed", idem_key=msg.idem_key, error=msg.error)
        if order is not None:
            order.failures += 1
            if order.failures > self.params.max_retries and not order.sent:
                self._release(order)
                order.stage = "failed"
                self._update(order, f"gave up after {order.failures - 1} retries: {msg.error}")
                return
        self.ctx.schedule(_ns(self.params.retry_secs), key=f"retry|{msg.idem_key}")

    def on_reconciled(self, msg: EffectReconciled) -> None:
        key = msg.idem_key
        if not key.startswith(("ramp:", "wallet:")):
            return
        if msg.outcome == "not_done":
            self._reissue(key)  # it never happened: the same command, the same key
        elif msg.outcome == "unknown":
            self.ctx.log.error("ramp_command_unknown", idem_key=key, detail=msg.detail)
            order = self._order_of_key(key)
            if order is not None:
                self._update(order, f"cannot tell whether `{key}` happened: {msg.detail}")

    def on_timer(self, msg: TimerFired) -> None:
        key = msg.key
        if key.startswith("poll:"):
            order = self.state.orders.get(key.removeprefix("poll:"))
            if order is None or order.finished or order.provider_status in TERMINAL:
                return
            self._fetch(order)
        elif key.startswith("retry|"):
            self._reissue(key.removeprefix("retry|"))

    def _order_of_key(self, key: str) -> RampOrder | None:
        parts = key.split(":")
        if parts[0] == "ramp" and len(parts) >= 3:
            return self.state.orders.get(parts[2])
        if parts[:2] == ["wallet", "send"] and len(parts) >= 3:
            return self.state.orders.get(parts[2].removeprefix("send-"))
        return None

    def _reissue(self, key: str) -> None:
        parts = key.split(":")
        if parts[:2] == ["wallet", "addr"] and len(parts) >= 5:
            user, coin, network = parts[2], parts[3], ":".join(parts[4:])
            if _addr_key(user, coin, network) in self.state.waiting:
                self._ask_address(user, coin, network, corr="")
            return
        order = self._order_of_key(key)
        if order is None or order.finished:
            return
        what = parts[1]
        if what == "place" and not order.provider_order_id:
            self._send_place(order)
        elif what == "fetch" and order.provider_order_id:
            self._fetch(order)
        elif what == "confirm" and order.stage == "confirming":
            self._confirm(order)
        elif what == "send" and order.sent and not order.tx_hash:
            self._send_crypto(order)

    # -- steps ----------------------------------------------------------------------------------

    def _place(self, order: RampOrder, note: str) -> None:
        order.stage = "placing"
        self._update(order, note)
        self._send_place(order)

    def _send_place(self, order: RampOrder) -> None:
        address = ""
        if order.side == "buy":
            address = self.state.addresses[_addr_key(order.user, order.coin, order.network)]
        self.ctx.send(
            self.params.provider,
            PlaceRampOrder(
                ramp_id=order.ramp_id,
                side=order.side,
                user=order.user,
                fiat=order.fiat,
                coin=order.coin,
                network=order.network,
                fiat_amount=order.fiat_amount,
                coin_amount=order.coin_amount,
                wallet_address=address,
            ),
            corr=order.ramp_id,
        )

    def _ask_address(self, user: str, coin: str, network: str, *, corr: str) -> None:
        self.ctx.send(
            self.params.wallets,
            AssignDepositAddress(user=user, asset=coin, network=network),
            corr=corr or None,
        )

    def _fetch(self, order: RampOrder) -> None:
        order.fetches += 1
        self.ctx.send(
            self.params.provider,
            FetchRampOrder(
                ramp_id=order.ramp_id,
                provider_order_id=order.provider_order_id,
                attempt=order.fetches,
            ),
            corr=order.ramp_id,
        )

    def _confirm(self, order: RampOrder) -> None:
        self.ctx.send(
            self.params.provider,
            ConfirmSellOrder(
                ramp_id=order.ramp_id,
                provider_order_id=order.provider_order_id,
                tx_hash=order.tx_hash,
            ),
            corr=order.ramp_id,
        )

    def _send_crypto(self, order: RampOrder) -> None:
        order.sent = True
        self.ctx.send(
            self.params.wallets,
            SendCrypto(
                transfer_id=f"send-{order.ramp_id}",
                ramp_id=order.ramp_id,
                user=order.user,
                asset=order.coin,
                network=order.network,
                amount=order.coin_amount or ZERO,
                to_address=order.deposit_address,
            ),
            corr=order.ramp_id,
        )

    def _status(self, order: RampOrder, status: str, note: str) -> None:
        before = order.provider_status or "-"
        order.provider_status = status
        self._update(order, note or f"status {before} -> {status}")

    def _after_status(self, order: RampOrder) -> None:
        """Do what the provider's status asks of us, each thing at most once."""
        status = order.provider_status
        if status in TERMINAL and order.poll_timer >= 0:
            self.ctx.cancel(order.poll_timer)
            order.poll_timer = -1
        if order.side == "buy":
            if status == "complete" and not order.credited:
                self._credit(order)
            elif status in FAILED and not order.finished:
                order.stage = "failed"
                self._update(order, f"provider ended the order: {status}")
            return
        if status == "complete":
            if not order.paid_out:
                self._pay_out(order)
            return
        if status in FAILED:
            self._sell_failed(order, status)
            return
        if not order.sent and order.deposit_address and status != "expired":
            order.stage = "sending"
            self._update(order, f"sending {order.coin_amount} {order.coin} to the provider")
            self._send_crypto(order)

    def _credit(self, order: RampOrder) -> None:
        amount = order.coin_amount or ZERO
        order.credited = True
        if amount > 0:
            self._from_provider(order, CUSTODY, order.coin, amount)
            self._wallet_changed(order, amount, "onramp")
        order.stage = "complete"
        self._update(order, f"credited {amount} {order.coin} to {order.user}")

    def _pay_out(self, order: RampOrder) -> None:
        amount = order.fiat_amount or ZERO
        order.paid_out = True
        if amount > 0:
            self._from_provider(order, BANK, order.fiat, amount)
        self.ctx.publish(
            FiatPaidOut(ramp_id=order.ramp_id, user=order.user, fiat=order.fiat, amount=amount),
            corr=order.ramp_id,
        )
        order.stage = "complete"
        self._update(order, f"paid out {amount} {order.fiat} to {order.user}")

    def _sell_failed(self, order: RampOrder, status: str) -> None:
        if order.finished:
            return
        if not order.sent:
            self._release(order)
            note = f"provider ended the order: {status}; coins released"
        elif status == "refunded" and order.tx_hash:
            amount = order.coin_amount or ZERO
            self._from_provider(order, CUSTODY, order.coin, amount)
            self._wallet_changed(order, amount, "refund")
            note = f"provider refunded {amount} {order.coin}"
        else:
            note = f"provider ended the order: {status} after the coins were sent"
        order.stage = "failed"
        self._update(order, note)

    # -- wallet movements -----------------------------------------------------------------------

    def _hold(self, order: RampOrder, amount: Decimal) -> None:
        self._within_custody(order, amount, order.user, f"{order.user}:held")
        order.held = True
        self._wallet_changed(order, ZERO, "offramp_hold")

    def _release(self, order: RampOrder) -> None:
        if not order.held:
            return
        self._within_custody(order, order.coin_amount or ZERO, f"{order.user}:held", order.user)
        order.held = False
        self._wallet_changed(order, ZERO, "offramp_release")

    def _within_custody(self, order: RampOrder, amount: Decimal, frm: str, to: str) -> None:
        self.ledger.transfer(CUSTODY, CUSTODY, order.coin, amount, corr=order.ramp_id,
                             ts=self.ctx.now, wallet=frm, to_wallet=to)  # fmt: skip

    def _from_provider(self, order: RampOrder, venue: str, asset: str, amount: Decimal) -> None:
        self.ledger.deposit(venue, asset, amount, corr=order.ramp_id, ts=self.ctx.now,
                            wallet=order.user, source=self.params.provider)  # fmt: skip

    def _wallet_changed(self, order: RampOrder, delta: Decimal, reason: WalletReason) -> None:
        free, held = self.wallet(order.user, order.coin)
        total = free + held
        self.ctx.publish(
            WalletChanged(
                user=order.user,
                asset=order.coin,
                balance=total if total else ZERO,
                held=held if held else ZERO,
                delta=delta,
                reason=reason,
                ramp_id=order.ramp_id,
            ),
            corr=order.ramp_id,
        )

    # -- events ---------------------------------------------------------------------------------

    def _update(self, order: RampOrder, note: str) -> None:
        self.ctx.publish(
            RampOrderUpdated(
                ramp_id=order.ramp_id,
                side=order.side,
                user=order.user,
                fiat=order.fiat,
                coin=order.coin,
                fiat_amount=order.fiat_amount,
                coin_amount=order.coin_amount,
                stage=order.stage,
                provider_status=order.provider_status,
                provider_order_id=order.provider_order_id,
                note=note,
                tx_hash=order.tx_hash,
            ),
            corr=order.ramp_id,
        )

    def _refuse(self, ramp_id: str, code: str, detail: str) -> None:
        self.ctx.log.warning("ramp_order_refused", ramp_id=ramp_id, code=code, detail=detail)
        self.ctx.publish(
            RampOrderRefused(ramp_id=ramp_id, code=code, detail=detail),  # type: ignore[arg-type]
            corr=ramp_id,
        )


def _invalid(msg: CreateRampOrder) -> str:
    """Return why a create command is malformed ("" when it is fine)."""
    if not msg.ramp_id or ":" in msg.ramp_id or "|" in msg.ramp_id:
        return "`ramp_id` must be non-empty, without `:` or `|`"
    if not msg.user or ":" in msg.user or "|" in msg.user:
        return "`user` must be non-empty, without `:` or `|`"
    if not msg.fiat or not msg.coin:
        return "`fiat` and `coin` are required"
    if msg.side == "buy":
        if msg.fiat_amount is None or msg.fiat_amount <= 0:
            return "an on-ramp (buy) needs `fiat_amount` > 0"
        if msg.coin_amount is not None:
            return "an on-ramp (buy) takes `fiat_amount`, not `coin_amount`"
    else:
        if msg.coin_amount is None or msg.coin_amount <= 0:
            return "an off-ramp (sell) needs `coin_amount` > 0"
        if msg.fiat_amount is not None:
            return "an off-ramp (sell) takes `coin_amount`, not `fiat_amount`"
    for amount in (msg.fiat_amount, msg.coin_amount):
        if amount is not None and not amount.is_finite():
            return "amounts must be finite numbers"
    return ""


def _approval_id(ramp_id: str) -> str:
    return f"ramp:{ramp_id}"


def _ns(secs: float) -> int:
    return round(secs * 1e9)


__all__ = ["RampDesk", "RampDeskConfig", "RampOrder", "RampState"]


