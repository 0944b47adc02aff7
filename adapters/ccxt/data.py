"""Fetch public market data from any ccxt exchange: candles, ticker, order book, trades.

One `CcxtPublicData` owns one `ccxt.async_support` exchange (and its aiohttp session). Public
endpoints need no credentials, so it is the same in paper and live mode; it never sees keys.
Replies come back as Kinetic messages with exact prices (`adapters.ccxt.convert`).

Failures follow the kernel's split: a network failure (timeout, 5xx, `ExchangeNotAvailable`) is
retried `retries` times with doubling backoff, then raised as `VenueBrokenError`; a request the
venue cannot serve (unknown symbol, timeframe) is `VenueRequestError` at once. Every `fetch_*`
is a cancellation point.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import ccxt
import ccxt.async_support as ccxt_async
import msgspec

from adapters.ccxt import convert
from adapters.ccxt.config import CcxtDataConfig
from adapters.ccxt.errors import VenueBrokenError, VenueClosedError, VenueRequestError
from agents.data.messages import Bar, BookDelta, Quote, Trade
from runtime import ConfigError
from runtime.logging import get_logger

_T = TypeVar("_T")
_NS_PER_MS = 1_000_000
_REQUEST_ERRORS = (ccxt.BadSymbol, ccxt.BadRequest, ccxt.NotSupported, ccxt.ArgumentsRequired)

log = get_logger("kinetic.ccxt")


def point_api_at(urls: Any, base: str, /) -> Any:
    """Return ccxt's `urls['api']` (a URL or nested dicts of them) with `base`'s origin.

    The scheme, host and port of every URL become `base`'s; `base`'s path, if any, is put
    before each URL's own path (`https://api.kraken.com` -> `http://127.0.0.1:8788`).
    """
    if isinstance(urls, dict):
        return {key: point_api_at(value, base) for key, value in urls.items()}
    if not isinstance(urls, str):
        return urls
    to, url = urlsplit(base), urlsplit(urls)
    return urlunsplit((to.scheme, to.netloc, to.path.rstrip("/") + url.path, url.query, ""))


class CcxtPublicData:
    """Fetch one exchange's public data through ccxt, as Kinetic messages.

    `open` creates the exchange and loads its markets; `close` releases the HTTP session. Use
    it as `async with CcxtPublicData(config) as data:`.
    """

    Params = CcxtDataConfig

    def __init__(self, config: CcxtDataConfig, /) -> None:
        self.config = config
        self._exchange: Any = None

    @classmethod
    def from_options(cls, **options: Any) -> CcxtPublicData:
        """Build a client from `CcxtDataConfig` fields, validated (bad values: `ConfigError`)."""
        try:
            return cls(msgspec.convert(options, CcxtDataConfig))
        except msgspec.ValidationError as exc:
            raise ConfigError(f"ccxt client: {exc}") from exc

    @property
    def exchange(self) -> Any:
        """Return the open ccxt exchange (for what this client does not wrap)."""
        if self._exchange is None:
            raise VenueClosedError(f"ccxt client of `{self.config.exchange}` is not open")
        return self._exchange

    async def open(self) -> None:
        """Create the exchange and load its markets; idempotent. A cancellation point."""
        if self._exchange is not None:
            return
        cfg = self.config
        cls = getattr(ccxt_async, cfg.exchange, None)
        if cfg.exchange not in ccxt_async.exchanges or cls is None:
            raise VenueRequestError(f"`exchange` must be a ccxt exchange id, got {cfg.exchange!r}")
        exchange = cls({"enableRateLimit": cfg.throttled, "timeout": cfg.timeout_ms})
        if cfg.api_url is not None:
            exchange.urls["api"] = point_api_at(exchange.urls["api"], cfg.api_url)
        self._exchange = exchange
        try:
            markets = await self._call("load markets", exchange.load_markets)
        except BaseException:
            await self.close()
            raise
        log.info(
            "venue_markets_loaded", exchange=cfg.exchange, markets=len(markets), api_url=cfg.api_url
        )

    async def close(self) -> None:
        """Close the HTTP session; idempotent."""
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            with anyio.CancelScope(shield=True):
                await exchange.close()

    async def __aenter__(self) -> CcxtPublicData:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def timeframe_ns(self, timeframe: str, /) -> int:
        """Return the length of `timeframe` in ns; refuse one the exchange does not serve."""
        known = self.exchange.timeframes or {}
        if timeframe not in known:
            raise VenueRequestError(
                f"`timeframe` must be one of {', '.join(known)} on `{self.config.exchange}`,"
                f" got {timeframe!r}"
            )
        return int(self.exchange.parse_timeframe(timeframe)) * 1_000_000_000

    def check_symbol(self, symbol: str, /) -> None:
        """Refuse a symbol the exchange does not list."""
        markets = self.exchange.markets or {}
        if symbol not in markets:
            sample = ", ".join(sorted(markets)[:8])
            raise VenueRequestError(
                f"`symbol` {symbol!r} is not listed on `{self.config.exchange}` (e.g. {sample})"
            )

    async def fetch_ohlcv(
        self,
        symbol: str,
        /,
        *,
        timeframe: str,
        since_ns: int | None = None,
        limit: int | None = None,
    ) -> list[Bar]:
        """Return candles of `symbol` opening at or after `since_ns`, oldest first.

        The venue decides how many one call returns (Kraken: up to 720); the last may still be
        forming. Candles are `Bar`s stamped `[open, open + timeframe)`.
        """
        tf = self.timeframe_ns(timeframe)
        self.check_symbol(symbol)
        since = None if since_ns is None else -(-since_ns // _NS_PER_MS)
        rows = await self._call(
            f"fetch {timeframe} candles of {symbol}",
            self.exchange.fetch_ohlcv,
            symbol,
            timeframe,
            since,
            limit,
        )
        return convert.bars(rows, symbol=symbol, timeframe_ns=tf)

    async def fetch_ticker(self, symbol: str, /) -> tuple[int, Quote]:
        """Return the best bid and offer of `symbol` as `(ts_ns, Quote)`."""
        self.check_symbol(symbol)
        raw = await self._call(f"fetch the ticker of {symbol}", self.exchange.fetch_ticker, symbol)
        return convert.quote(raw, symbol=symbol, received_ns=time.time_ns())

    async def fetch_order_book(
        self, symbol: str, /, *, depth: int | None = None
    ) -> tuple[int, list[BookDelta]]:
        """Return the order book of `symbol` (at most `depth` levels a side) as deltas."""
        self.check_symbol(symbol)
        raw = await self._call(
            f"fetch the order book of {symbol}", self.exchange.fetch_order_book, symbol, depth
        )
        return convert.book(raw, symbol=symbol, received_ns=time.time_ns())

    async def fetch_trades(
        self, symbol: str, /, *, since_ns: int | None = None, limit: int | None = None
    ) -> list[tuple[int, Trade]]:
        """Return public trades of `symbol` at or after `since_ns` as `(trade ns, Trade)`."""
        self.check_symbol(symbol)
        since = None if since_ns is None else since_ns // _NS_PER_MS
        raws = await self._call(
            f"fetch trades of {symbol}", self.exchange.fetch_trades, symbol, since, limit
        )
        return [convert.trade(raw, symbol=symbol) for raw in raws]

    async def _call(self, what: str, fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """Call ccxt, retrying network failures; map ccxt's errors to ours."""
        cfg = self.config
        for attempt in range(cfg.retries + 1):
            try:
                return await fn(*args)
            except _REQUEST_ERRORS as exc:
                raise VenueRequestError(f"`{cfg.exchange}` refused to {what}: {exc}") from exc
            except ccxt.NetworkError as exc:
                if attempt == cfg.retries:
                    raise VenueBrokenError(
                        f"`{cfg.exchange}` failed to {what} after {attempt + 1} attempts: {exc}"
                    ) from exc
                wait = cfg.retry_backoff_ms * 2**attempt / 1000
                log.warning(
                    "venue_request_retried",
                    exchange=cfg.exchange,
                    what=what,
                    attempt=attempt + 1,
                    wait_secs=wait,
                    error=str(exc),
                )
                await anyio.sleep(wait)
            except ccxt.BaseError as exc:
                raise VenueBrokenError(f"`{cfg.exchange}` failed to {what}: {exc}") from exc
        raise AssertionError("unreachable")  # the loop returns or raises
