"""Serve the ramp agent's provider commands with the Banxa client; verify Banxa's webhooks.

Adapter kind `banxa`. It executes `PlaceRampOrder` (create buy / sell, our ramp id as the
account reference), `FetchRampOrder` and `ConfirmSellOrder`, and returns the results as
messages. After a crash, `reconcile` asks Banxa by account reference whether an order was made
(never creating it again); a fetch is simply repeated; a confirmation is checked on the order.

It is also the ingress's `WebhookSource` for Banxa: a webhook must be signed with the webhook
key over `POST`, the ingress path and the raw body, and carry a fresh nonce.

Mock mode (`mock = true`, or `MOCK_MODE=true` in the environment) starts the fake Banxa inside
the daemon on loopback with the public mock credentials, auto-advancing orders every
`mock_step_secs`, and points the same client at it; the ingress tells it where to post webhooks.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from adapters.banxa.api import PRODUCTION_URL, SANDBOX_URL, BanxaClient, BanxaRejectedError
from adapters.banxa.schema import Order
from adapters.banxa.sign import NonceWindow, SignatureError, verify
from adapters.webhooks.service import WebhookRejectedError
from agents.ramp.messages import (
    ConfirmSellOrder,
    FetchRampOrder,
    PlaceRampOrder,
    RampOrderFetched,
    RampOrderPlaced,
    RampOrderRefusedByProvider,
    RampWebhook,
    SellOrderConfirmed,
)
from runtime import Adapter, ConfigBase, Envelope, Message, Reconciliation, bind_socket, serve_asgi
from runtime.logging import get_logger, register_secret

SHUTDOWN_SECS = 1


class BanxaConfig(ConfigBase, frozen=True, kw_only=True):
    """Params of adapter kind `banxa`. Credentials come from the environment only."""

    base_url: str = SANDBOX_URL
    """Banxa's API (`https://api.banxa-sandbox.com`, or `https://api.banxa.com`, or a partner
    host); ignored in mock mode."""
    key_env: str = "BANXA_API_KEY"
    secret_env: str = "BANXA_API_SECRET"
    """Environment variables holding the API key and secret."""
    webhook_key_env: str = "BANXA_WEBHOOK_KEY"
    """The key webhooks are signed with (Banxa signs them with the partner's key); unset: the
    API key."""
    mock: bool = False
    """Start the fake Banxa in the daemon (also when `MOCK_MODE=true`)."""
    mock_step_secs: float = 0.5
    """Mock mode: advance every open order one status per this many seconds; 0 never."""
    mock_btc_price: Decimal = Decimal(50000)
    timeout_secs: float = 10.0
    retries: int = 4
    backoff_secs: float = 0.2
    return_url: str = ""
    """Where Banxa's checkout sends the user after paying (buy orders)."""


def mock_mode(params: BanxaConfig) -> bool:
    """Return whether the adapter runs against the in-daemon fake."""
    return params.mock or os.environ.get("MOCK_MODE", "").lower() in ("1", "true", "yes")


class BanxaAdapter(Adapter):
    """The Banxa provider adapter (and webhook verifier)."""

    Params = BanxaConfig
    feeds: ClassVar[bool] = True

    def __init__(self, params: BanxaConfig | None = None) -> None:
        self.params = params or BanxaConfig()
        self.mock = mock_mode(self.params)
        self.log: Any = get_logger("kinetic.banxa")
        self.client: BanxaClient | None = None
        self.fake: Any = None
        self._sock: socket.socket | None = None
        self._window = NonceWindow(strictly_increasing=False)
        self._webhook_keys: dict[str, str] = {}

    def _credentials(self) -> tuple[str, str, str]:
        if self.mock:
            from adapters.banxa.mock import MOCK_KEY, MOCK_SECRET

            return MOCK_KEY, MOCK_SECRET, MOCK_KEY
        p = self.params
        key, secret = os.environ.get(p.key_env, ""), os.environ.get(p.secret_env, "")
        if not key or not secret:
            from runtime import ConfigError

            raise ConfigError(
                f"adapter `{self.name or 'banxa'}` needs env vars {p.key_env} and "
                f"{p.secret_env} (or MOCK_MODE=true for the fake Banxa)"
            )
        register_secret(secret)
        return key, secret, os.environ.get(p.webhook_key_env, "") or key

    async def start(self, port: Any, /) -> None:
        await super().start(port)
        key, secret, webhook_key = self._credentials()
        self._webhook_keys = {webhook_key: secret}
        base = self.params.base_url
        if self.mock:
            from adapters.banxa.mock import FakeBanxa

            self.fake = FakeBanxa(keys={key: secret}, auto_step_secs=self.params.mock_step_secs)
            self.fake.prices["BTC"] = self.params.mock_btc_price
            self._sock = bind_socket("127.0.0.1", 0, what="the fake Banxa")
            host, bport = self._sock.getsockname()[:2]
            base = f"http://{host}:{bport}"
            self.log.warning("banxa_mock_mode", url=base, note="orders go to the fake Banxa")
        elif base not in (SANDBOX_URL, PRODUCTION_URL):
            self.log.info("banxa_custom_base_url", url=base)
        p = self.params
        self.client = BanxaClient(base, key=key, secret=secret, timeout_secs=p.timeout_secs,
                                  retries=p.retries, backoff_secs=p.backoff_secs)  # fmt: skip

    async def run(self) -> None:
        """In mock mode, serve the fake Banxa (its socket is bound since `start`)."""
        if self.fake is None or self._sock is None:
            return
        import anyio

        from adapters.banxa.mock.app import build_app

        async with anyio.create_task_group() as tg:
            if self.fake.auto_step_secs > 0:
                tg.start_soon(self.fake.auto_advance)
            await serve_asgi(
                build_app(self.fake), self._sock, shutdown_secs=SHUTDOWN_SECS,
                on_listening=lambda url: None,
            )  # fmt: skip

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self._sock is not None:
            self._sock.close()

    # -- commands -------------------------------------------------------------------------------

    def _client(self) -> BanxaClient:
        assert self.client is not None, "adapter not started"
        return self.client

    async def execute(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Sequence[Message]:
        client = self._client()
        if isinstance(cmd, PlaceRampOrder):
            try:
                if cmd.side == "buy":
                    order = await client.create_buy_order(
                        account_reference=cmd.ramp_id, fiat=cmd.fiat, coin=cmd.coin,
                        fiat_amount=cmd.fiat_amount or Decimal(0),
                        wallet_address=cmd.wallet_address, blockchain=cmd.network,
                        return_url=self.params.return_url,
                    )  # fmt: skip
                else:
                    order = await client.create_sell_order(
                        account_reference=cmd.ramp_id, coin=cmd.coin, fiat=cmd.fiat,
                        coin_amount=cmd.coin_amount or Decimal(0), blockchain=cmd.network,
                    )  # fmt: skip
            except BanxaRejectedError as exc:
                self.log.warning("banxa_order_refused", ramp_id=cmd.ramp_id, code=exc.code)
                return [RampOrderRefusedByProvider(
                    ramp_id=cmd.ramp_id, code=str(exc.code), detail=exc.detail)]  # fmt: skip
            self.log.info("banxa_order_created", ramp_id=cmd.ramp_id, order_id=order.id)
            return [_placed(cmd.ramp_id, order)]
        if isinstance(cmd, FetchRampOrder):
            return [_fetched(cmd.ramp_id, await client.get_order(cmd.provider_order_id))]
        if isinstance(cmd, ConfirmSellOrder):
            await client.confirm_sell_order(cmd.provider_order_id, cmd.tx_hash)
            return [SellOrderConfirmed(ramp_id=cmd.ramp_id,
                                       provider_order_id=cmd.provider_order_id)]  # fmt: skip
        return await super().execute(cmd, idem_key=idem_key, env=env)

    async def reconcile(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Reconciliation:
        client = self._client()
        if isinstance(cmd, PlaceRampOrder):
            found = await client.find_order(cmd.ramp_id)
            if found is None:
                return Reconciliation("not_done", (), f"no Banxa order for `{cmd.ramp_id}`")
            return Reconciliation("done", [_placed(cmd.ramp_id, found)], f"order {found.id}")
        if isinstance(cmd, FetchRampOrder):
            return Reconciliation("done", await self.execute(cmd, idem_key=idem_key, env=env))
        if isinstance(cmd, ConfirmSellOrder):
            order = await client.get_order(cmd.provider_order_id)
            if order.tx_hash == cmd.tx_hash:
                done = SellOrderConfirmed(ramp_id=cmd.ramp_id,
                                          provider_order_id=cmd.provider_order_id)  # fmt: skip
                return Reconciliation("done", [done])
            return Reconciliation("not_done", (), "Banxa holds no transfer hash for the order")
        return await super().reconcile(cmd, idem_key=idem_key, env=env)

    # -- webhooks (the ingress's WebhookSource) --------------------------------------------------

    def verify_webhook(
        self, *, method: str, path: str, authorization: str, body: bytes, now_ms: int,
        max_age_ms: int,
    ) -> str:  # fmt: skip
        self._window.max_age_ms = max_age_ms
        try:
            _, nonce = verify(
                authorization, keys=self._webhook_keys, method=method, path=path, body=body,
                window=self._window, now_ms=now_ms,
            )  # fmt: skip
        except SignatureError as exc:
            raise WebhookRejectedError(str(exc.code), exc.detail) from exc
        return nonce

    def parse_webhook(self, body: bytes, /) -> tuple[Message, str]:
        try:
            data = msgspec.json.decode(body, type=_Webhook)
        except msgspec.MsgspecError as exc:
            raise ValueError(str(exc)) from exc
        msg = RampWebhook(provider="banxa", provider_order_id=data.order_id, status=data.status)
        return msg, f"{data.order_id}|{data.status}"

    def webhook_listening(self, url: str, /) -> None:
        """The ingress listens at `url`: in mock mode, the fake posts its webhooks there."""
        if self.fake is not None:
            self.fake.webhook_url = url
            self.log.info("banxa_mock_webhooks", url=url)


class _Webhook(msgspec.Struct, frozen=True):
    order_id: str
    status: str
    status_date: str = ""

    def __post_init__(self) -> None:
        if not (0 < len(self.order_id) <= 100 and 0 < len(self.status) <= 40):
            raise ValueError("order_id and status must be non-empty and short")


def _placed(ramp_id: str, o: Order) -> RampOrderPlaced:
    return RampOrderPlaced(
        ramp_id=ramp_id, provider_order_id=o.id, status=o.status, checkout_url=o.checkout_url,
        deposit_address=o.wallet_address if o.is_sell else "", fiat_amount=o.fiat_amount,
        coin_amount=o.coin_amount,
    )  # fmt: skip


def _fetched(ramp_id: str, o: Order) -> RampOrderFetched:
    return RampOrderFetched(
        ramp_id=ramp_id, provider_order_id=o.id, status=o.status, fiat_amount=o.fiat_amount,
        coin_amount=o.coin_amount, tx_hash=o.tx_hash or "",
        deposit_address=o.wallet_address if o.is_sell else "",
    )  # fmt: skip



