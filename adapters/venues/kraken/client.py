"""Talk to Kraken's private API through ccxt: one request at a time, raw strings kept exact.

`KrakenClient` owns one `ccxt.async_support.kraken` with the credentials from the environment.
Every private request goes through one lock: Kraken rejects a nonce that is not larger than the
last one it saw for the key, and two requests in flight can arrive out of order. Requests are
ccxt's own unified calls (`create_order`, `cancel_order`, `fetch_open_orders`,
`fetch_closed_orders`, `fetch_my_trades`, `fetch_balance`), so what goes on the wire is what the
tests compare with ccxt's recorded requests; results are read from Kraken's raw `info` strings,
never from ccxt's floats.

Failures, in the kernel's split: a network failure (timeout, 5xx, rate limit, nonce) of a read
is retried with doubling backoff and then raised as `VenueBrokenError`; of an order or a cancel
it is raised at once, since the request may have arrived (the caller looks the order up). A
refusal by Kraken is `KrakenRefusedError` with Kraken's error string. Each call is a
cancellation point.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import anyio
import ccxt
import ccxt.async_support as ccxt_async

from adapters.ccxt.data import point_api_at
from adapters.ccxt.errors import VenueBrokenError, VenueClosedError
from adapters.venues.kraken.config import KrakenVenueConfig
from runtime import CREDENTIAL_VARS, ConfigError, KineticError
from runtime.logging import get_logger, register_secret

_T = TypeVar("_T")
PAGE = 50
"""Rows Kraken returns per page of closed orders and trades (`ofs` pages on)."""
MAX_PAGES = 200
"""Most pages one listing reads (10,000 rows); a poll that needs more logs it and goes on."""
_ERROR = re.compile(r'"error"\s*:\s*\[\s*"([^"]+)"')

log = get_logger("kinetic.kraken")


class KrakenRefusedError(KineticError):
    """Kraken answered and refused the request; `error` is Kraken's string (`EOrder:...`)."""

    def __init__(self, error: str, /) -> None:
        super().__init__(error)
        self.error = error


def kraken_error(exc: BaseException, /) -> str:
    """Return Kraken's error string from a ccxt exception (`EOrder:Insufficient funds`)."""
    found = _ERROR.search(str(exc))
    return found.group(1) if found else f"{type(exc).__name__}: {exc}"


class KrakenClient:
    """Make Kraken's private requests for the venue adapter, one at a time."""

    def __init__(self, config: KrakenVenueConfig, /) -> None:
        self.config = config
        self._exchange: Any = None
        self._lock = anyio.Lock()

    @property
    def exchange(self) -> Any:
        """Return the open ccxt exchange."""
        if self._exchange is None:
            raise VenueClosedError("the Kraken client is not open")
        return self._exchange

    async def open(self) -> None:
        """Read the credentials, create the exchange, load markets. A cancellation point."""
        missing = [v for v in CREDENTIAL_VARS if not os.environ.get(v)]
        if missing:
            raise ConfigError(f"the kraken venue needs env vars: {', '.join(missing)}")
        key, secret = (os.environ[v] for v in CREDENTIAL_VARS)
        register_secret(key)
        register_secret(secret)
        cfg = self.config
        exchange = ccxt_async.kraken(
            {
                "apiKey": key,
                "secret": secret,
                "enableRateLimit": cfg.throttled,
                "timeout": cfg.timeout_ms,
            }
        )
        if cfg.api_url is not None:
            exchange.urls["api"] = point_api_at(exchange.urls["api"], cfg.api_url)
        self._exchange = exchange
        try:
            await self.read("load markets", exchange.load_markets)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the HTTP session; idempotent."""
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            with anyio.CancelScope(shield=True):
                await exchange.close()

    def market(self, symbol: str, /) -> dict[str, Any]:
        """Return ccxt's market of `symbol`; refuse one Kraken does not list."""
        markets = self.exchange.markets or {}
        if symbol not in markets:
            raise KrakenRefusedError("EQuery:Unknown asset pair")
        market: dict[str, Any] = markets[symbol]
        return market

    # -- orders (never retried) --------------------------------------------------------------

    async def place(
        self,
        symbol: str,
        /,
        *,
        side: str,
        qty: Decimal,
        price: Decimal | None,
        order_type: str,
        tif: str,
        cl_ord_id: str,
    ) -> str:
        """Send `AddOrder` with `cl_ord_id`; return Kraken's order id (txid)."""
        self.market(symbol)
        params: dict[str, Any] = {"clientOrderId": cl_ord_id}
        if tif == "ioc":
            params["timeInForce"] = "IOC"
        order = await self.write(
            "place an order",
            self.exchange.create_order,
            symbol,
            order_type,
            side,
            f"{qty:f}",
            None if price is None else f"{price:f}",
            params,
        )
        return str(order["id"])

    async def cancel(self, cl_ord_id: str, /, *, venue_order_id: str = "") -> None:
        """Send `CancelOrder` by client id (Kraken's `cl_ord_id`), else by Kraken's order id."""
        if cl_ord_id:
            args: tuple[Any, ...] = (None, None, {"clientOrderId": cl_ord_id})
        else:
            args = (venue_order_id, None, {})
        await self.write("cancel an order", self.exchange.cancel_order, *args)

    # -- reads (retried) ---------------------------------------------------------------------

    async def open_orders(self, *, cl_ord_id: str | None = None) -> list[dict[str, Any]]:
        """Return the open orders (Kraken's order info with `txid`), optionally one client id."""
        params = {} if cl_ord_id is None else {"clientOrderId": cl_ord_id}
        orders = await self.read(
            "fetch open orders", self.exchange.fetch_open_orders, None, None, None, params
        )
        return [_info(o) for o in orders]

    async def closed_orders(
        self, *, since: float | None = None, cl_ord_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Return orders closed after `since` (unix seconds), every page, oldest close first."""
        params: dict[str, Any] = {"closetime": "close"}
        if since is not None:
            params["start"] = math.floor(since)
        if cl_ord_id is not None:
            params["clientOrderId"] = cl_ord_id
        rows = await self._pages("fetch closed orders", self.exchange.fetch_closed_orders, params)
        rows.sort(key=lambda o: float(o.get("closetm") or 0))
        return rows

    async def trades(self, *, since: float) -> list[dict[str, Any]]:
        """Return own trades after `since` (unix seconds), every page, oldest first."""
        rows = await self._pages(
            "fetch own trades", self.exchange.fetch_my_trades, {}, since_ms=math.floor(since) * 1000
        )
        rows.sort(key=lambda t: (float(t["time"]), str(t.get("trade_id", ""))))
        return rows

    async def balances(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """Return the balances and what open orders hold, by ccxt currency code, exact."""
        reply = await self.read("fetch balances", self.exchange.fetch_balance)
        raw = (reply.get("info") or {}).get("result") or {}
        total: dict[str, Decimal] = {}
        held: dict[str, Decimal] = {}
        for asset, row in raw.items():
            code = self.exchange.safe_currency_code(asset)
            total[code] = Decimal(str(row.get("balance", "0")))
            held[code] = Decimal(str(row.get("hold_trade", "0")))
        return total, held

    async def _pages(
        self,
        what: str,
        fn: Callable[..., Awaitable[list[dict[str, Any]]]],
        params: dict[str, Any],
        *,
        since_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            got = await self.read(what, fn, None, since_ms, None, {**params, "ofs": page * PAGE})
            rows += [_info(x) for x in got]
            if len(got) < PAGE:
                return rows
        log.warning("kraken_listing_truncated", what=what, rows=len(rows))
        return rows

    # -- the request gate --------------------------------------------------------------------

    async def write(self, what: str, fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """Make one request that changes something: no retry; network failures are Broken."""
        async with self._lock:
            try:
                return await fn(*args)
            except ccxt.NetworkError as exc:
                raise VenueBrokenError(f"kraken did not confirm: {what}: {exc}") from exc
            except ccxt.BaseError as exc:
                raise KrakenRefusedError(kraken_error(exc)) from exc

    async def read(self, what: str, fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """Make one request that reads, retrying network failures with doubling backoff."""
        cfg = self.config
        for attempt in range(cfg.retries + 1):
            try:
                async with self._lock:
                    return await fn(*args)
            except ccxt.NetworkError as exc:
                if attempt == cfg.retries:
                    raise VenueBrokenError(
                        f"kraken failed to {what} after {attempt + 1} attempts: {exc}"
                    ) from exc
                wait = cfg.retry_backoff_ms * 2**attempt / 1000
                log.warning(
                    "venue_request_retried",
                    venue="kraken",
                    what=what,
                    attempt=attempt + 1,
                    wait_secs=wait,
                    error=str(exc),
                )
                await anyio.sleep(wait)
            except ccxt.BaseError as exc:
                raise KrakenRefusedError(kraken_error(exc)) from exc
        raise AssertionError("unreachable")  # the loop returns or raises


def _info(parsed: dict[str, Any]) -> dict[str, Any]:
    """Return Kraken's raw row of a ccxt order or trade, with its id as `txid`."""
    info = dict(parsed.get("info") or {})
    info["txid"] = parsed.get("id") or info.get("id") or ""
    return info
