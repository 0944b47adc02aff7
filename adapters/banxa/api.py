"""An async Banxa client (httpx): signed requests, retries that never make a second order.

Every request is signed (`sign.authorization`) with a fresh, strictly increasing nonce; a POST
signs the exact compact JSON bytes it sends. Timeouts, connection errors and 5xx answers are
retried with exponential backoff (tenacity); a 4xx never is (`BanxaRejectedError`). Creating an
order is idempotent by our order id, sent as Banxa's `account_reference`: after a failure whose
outcome is unknown (a timeout, a 5xx), the client looks the order up by that reference before
trying again, so a retry returns the order the first attempt made instead of making a second.

The API secret never reaches a log line or a repr.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

import httpx
import msgspec
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from adapters.banxa.schema import Coin, Fiat, Order, PaymentMethod, Prices, decode_amounts
from adapters.banxa.sign import NonceSource, authorization, compact_json

SANDBOX_URL: Final = "https://api.banxa-sandbox.com"
"""Banxa's sandbox; production is `https://api.banxa.com` (per-partner hosts exist too)."""
PRODUCTION_URL: Final = "https://api.banxa.com"

T = TypeVar("T")


class BanxaError(Exception):
    """An answer from Banxa that is not a success."""

    def __init__(self, status: int, code: int, detail: str) -> None:
        super().__init__(f"banxa {status} ({code}): {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class BanxaRejectedError(BanxaError):
    """A 4xx: the request is wrong or refused; retrying cannot help."""


class BanxaServerError(BanxaError):
    """A 5xx: Banxa failed; the request may or may not have taken effect."""


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError | BanxaServerError)


class BanxaClient:
    """Talk to Banxa (or the fake) at `base_url` with an API key and secret."""

    def __init__(
        self,
        base_url: str,
        *,
        key: str,
        secret: str,
        timeout_secs: float = 10.0,
        retries: int = 4,
        backoff_secs: float = 0.2,
        nonces: NonceSource | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self._secret = secret
        self.retries = retries
        self.backoff_secs = backoff_secs
        self._nonce = nonces or NonceSource()
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_secs)
        self.attempts = 0
        """Requests sent, retries included (for tests and metrics)."""

    def __repr__(self) -> str:
        return f"BanxaClient({self.base_url!r}, key={self.key!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> BanxaClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- transport ------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, body: Any = None) -> Any:
        raw = compact_json(body) if body is not None else None
        nonce = self._nonce()
        headers = {
            "Authorization": authorization(self.key, self._secret, method, path, nonce, raw),
            "Accept": "application/json",
        }
        if raw is not None:
            headers["Content-Type"] = "application/json"
        self.attempts += 1
        resp = await self._http.request(method, path, content=raw, headers=headers)
        data = decode_amounts(resp.json()) if resp.content else {}
        if resp.status_code >= 400:
            err = data.get("errors") or data.get("error") or {} if isinstance(data, dict) else {}
            code = int(err.get("code", resp.status_code)) if isinstance(err, dict) else 0
            detail = str(err.get("title", resp.text[:200])) if isinstance(err, dict) else ""
            cls = BanxaServerError if resp.status_code >= 500 else BanxaRejectedError
            raise cls(resp.status_code, code, detail)
        return data.get("data", data) if isinstance(data, dict) else data

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff_secs, max=5 * self.backoff_secs)
            + wait_random(0, self.backoff_secs),
            reraise=True,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get(self, path: str, **query: Any) -> Any:
        q = {k: v for k, v in query.items() if v is not None}
        full = f"{path}?{urlencode(q)}" if q else path
        return await self._retrying(lambda: self._send("GET", full))

    # -- reference data -------------------------------------------------------------------------

    async def coins(self, side: str = "buy") -> list[Coin]:
        data = await self._get(f"/api/coins/{side}")
        return msgspec.convert(data["coins"], list[Coin], strict=False)

    async def fiats(self, side: str = "buy") -> list[Fiat]:
        data = await self._get(f"/api/fiats/{side}")
        return msgspec.convert(data["fiats"], list[Fiat], strict=False)

    async def payment_methods(self, source: str, target: str) -> list[PaymentMethod]:
        data = await self._get("/api/payment-methods", source=source, target=target)
        return msgspec.convert(data["payment_methods"], list[PaymentMethod], strict=False)

    async def prices(self, source: str, target: str, source_amount: Decimal) -> Prices:
        data = await self._get(
            "/api/prices", source=source, target=target, source_amount=str(source_amount)
        )
        return msgspec.convert(data, Prices, strict=False)

    # -- orders ---------------------------------------------------------------------------------

    async def get_order(self, order_id: str) -> Order:
        data = await self._get(f"/api/orders/{order_id}")
        return msgspec.convert(data["order"], Order, strict=False)

    async def list_orders(
        self, *, account_reference: str | None = None, status: str | None = None
    ) -> list[Order]:
        data = await self._get("/api/orders", account_reference=account_reference, status=status)
        return msgspec.convert(data["orders"], list[Order], strict=False)

    async def find_order(self, account_reference: str) -> Order | None:
        """Return the order made with our id, or None if Banxa has none."""
        found = await self.list_orders(account_reference=account_reference)
        return found[0] if found else None

    async def create_buy_order(
        self,
        *,
        account_reference: str,
        fiat: str,
        coin: str,
        fiat_amount: Decimal,
        wallet_address: str,
        blockchain: str = "",
        return_url: str = "",
    ) -> Order:
        body = {"account_reference": account_reference, "source": fiat, "target": coin,
                "source_amount": str(fiat_amount), "wallet_address": wallet_address}  # fmt: skip
        if blockchain:
            body["blockchain"] = blockchain
        if return_url:
            body["return_url_on_success"] = return_url
        return await self._create("/api/orders", body, account_reference)

    async def create_sell_order(
        self,
        *,
        account_reference: str,
        coin: str,
        fiat: str,
        coin_amount: Decimal,
        blockchain: str = "",
        refund_address: str = "",
    ) -> Order:
        body = {"account_reference": account_reference, "source": coin, "target": fiat,
                "source_amount": str(coin_amount)}  # fmt: skip
        if blockchain:
            body["blockchain"] = blockchain
        if refund_address:
            body["refund_address"] = refund_address
        return await self._create("/api/orders/sell", body, account_reference)

    async def _create(self, path: str, body: dict[str, str], reference: str) -> Order:
        tries = 0
        while True:
            try:
                data = await self._send("POST", path, body)
                return msgspec.convert(data["order"], Order, strict=False)
            except (httpx.TransportError, BanxaServerError):
                tries += 1
                if tries > self.retries:
                    raise
            # The outcome is unknown: ask by our reference before sending again.
            found = await self.find_order(reference)  # retried on its own
            if found is not None:
                return found
            await _sleep(min(5 * self.backoff_secs, self.backoff_secs * 2 ** (tries - 1)))

    async def confirm_sell_order(self, order_id: str, tx_hash: str) -> Order:
        """Give Banxa the hash of the transfer that paid a sell order (idempotent there)."""
        data = await self._retrying(
            lambda: self._send("POST", f"/api/orders/{order_id}/confirm", {"tx_hash": tx_hash})
        )
        return msgspec.convert(data["order"], Order, strict=False)


async def _sleep(secs: float) -> None:
    import anyio

    await anyio.sleep(secs)
