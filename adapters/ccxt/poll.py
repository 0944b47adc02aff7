"""Feed a daemon live public market data by polling one ccxt exchange (kind `ccxt_poll`).

Paper trading on real prices: every `interval_ms` the adapter fetches the symbol's new public
trades, then its ticker, through `CcxtPublicData`, and emits each trade as a `Trade` and the
ticker's best bid and offer as a `Quote`, journaled as inputs from the adapter's name. Trades go
first, so a consumer measures each trade against the book top from before it.

- **De-duplication.** A trades request asks from the newest trade time seen (`since` is
  inclusive, so the trades at that millisecond come back); a trade is emitted once, keyed by the
  venue's trade id, or by (time, price, size, side) when the venue gives none. The last
  `seen_max` keys are remembered.
- **History.** The first poll returns the venue's latest trades, from before the daemon started;
  they are only marked seen unless `history = true` (they would reach estimators as if they had
  just happened).
- **Failures.** A network failure (after `CcxtPublicData`'s own retries) is logged as
  `ccxt_poll_failed` with the error and the poll is tried again after a doubling wait, up to
  `max_backoff_ms`; `ccxt_poll_recovered` says when it works again. It never ends the daemon: a
  stale feed is the risk gate's business (`stale_after_ms`). An exchange or symbol that does not
  exist (`VenueRequestError`) fails the start with a one-line error instead: retrying cannot help.

`Trade` is market data and conflates in a busy consumer's mailbox (latest wins); the adapter
yields to the event loop after each message so that consumers keep up with a burst of trades.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import anyio
import anyio.lowlevel
import msgspec

from adapters.ccxt.config import CcxtDataConfig
from adapters.ccxt.data import CcxtPublicData
from adapters.ccxt.errors import VenueBrokenError
from agents.data.messages import MarketData, Quote, Trade
from runtime import Adapter, AdapterPort
from runtime.config import NonEmptyStr, PositiveFloat, PositiveInt
from runtime.logging import get_logger

__all__ = ["CcxtPollConfig", "CcxtPollFeed"]

log = get_logger("kinetic.ccxt")


class CcxtPollConfig(CcxtDataConfig, frozen=True, kw_only=True):
    """Params of kind `ccxt_poll`: the exchange (as `ccxt_public`), the symbol, the cadence."""

    symbol: NonEmptyStr = "BTC/USDT"
    """The ccxt symbol to poll."""
    instrument: NonEmptyStr | None = None
    """The instrument the messages carry. Unset: the symbol."""
    interval_ms: PositiveInt = 2000
    """Time between two polls (trades, then ticker)."""
    trades: bool = True
    """Poll public trades."""
    ticker: bool = True
    """Poll the ticker (best bid and offer)."""
    trade_limit: PositiveInt | None = None
    """Most trades one request asks for. Unset: the exchange's default (Kraken: 1000)."""
    history: bool = False
    """Emit the trades the first poll finds (from before the start) instead of skipping them."""
    seen_max: PositiveInt = 10_000
    """Trade keys remembered for de-duplication."""
    max_backoff_ms: PositiveFloat = 60_000.0
    """Longest wait between polls while the exchange keeps failing."""
    to: str = ""
    """Send every message to this actor instead of publishing it (a simulated venue with
    `relay = true`). Unset: publish."""


class CcxtPollFeed(Adapter):
    """Poll one exchange's trades and ticker; emit them as `Trade` and `Quote` inputs."""

    Params = CcxtPollConfig
    feeds: ClassVar[bool] = True

    def __init__(self, params: CcxtPollConfig | None = None) -> None:
        self.params = params or CcxtPollConfig()
        self.client = CcxtPublicData(self.params)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._cursor_ns: int | None = None
        self._first = True
        self._opened = False
        self.polls = 0
        self.failures = 0
        self.emitted = 0

    @property
    def instrument(self) -> str:
        """Return the instrument name the messages carry."""
        return self.params.instrument or self.params.symbol

    async def start(self, port: AdapterPort, /) -> None:
        """Load the markets and check the symbol; a network failure is left to `run` to retry.

        A cancellation point. Raises `VenueRequestError` for an unknown exchange or symbol.
        """
        await super().start(port)
        try:
            await self._open()
        except VenueBrokenError as exc:
            log.warning("ccxt_poll_failed", adapter=self.name, symbol=self.params.symbol,
                        error=str(exc), failures=1)  # fmt: skip

    async def _open(self) -> None:
        if not self._opened:
            await self.client.open()
            self.client.check_symbol(self.params.symbol)
            self._opened = True

    async def stop(self) -> None:
        await self.client.close()

    async def run(self) -> None:
        """Poll until cancelled; failures are logged and retried with a doubling wait."""
        p = self.params
        while True:
            try:
                await self.poll()
            except VenueBrokenError as exc:
                self.failures += 1
                wait_ms = min(p.interval_ms * 2 ** min(self.failures - 1, 30), p.max_backoff_ms)
                log.warning(
                    "ccxt_poll_failed", adapter=self.name, symbol=p.symbol, error=str(exc),
                    failures=self.failures, retry_secs=wait_ms / 1000,
                )  # fmt: skip
                await anyio.sleep(wait_ms / 1000)
                continue
            if self.failures:
                log.info("ccxt_poll_recovered", adapter=self.name, symbol=p.symbol,
                         failures=self.failures)  # fmt: skip
                self.failures = 0
            await anyio.sleep(p.interval_ms / 1000)

    async def poll(self) -> int:
        """Fetch and emit what is new once; return how many messages were emitted.

        A cancellation point. Raises `VenueBrokenError` when the exchange fails.
        """
        await self._open()
        p = self.params
        out: list[MarketData] = []
        if p.trades:
            rows = await self.client.fetch_trades(
                p.symbol, since_ns=self._cursor_ns, limit=p.trade_limit
            )
            fresh = self._fresh(rows)
            if not self._first or p.history:
                out.extend(fresh)
            self._first = False
        if p.ticker:
            _, top = await self.client.fetch_ticker(p.symbol)
            out.append(top)
        self.polls += 1
        for msg in out:
            await self._emit(msg)
        return len(out)

    def _fresh(self, rows: list[tuple[int, Trade]], /) -> list[Trade]:
        """Return the trades not emitted before, oldest first; advance the cursor."""
        seen = self._seen
        fresh = []
        for ts, trade in sorted(rows, key=lambda r: r[0]):
            key = trade.trade_id or f"{ts}:{trade.price}:{trade.size}:{trade.side}"
            if key in seen:
                continue
            seen[key] = None
            fresh.append(trade)
            if self._cursor_ns is None or ts > self._cursor_ns:
                self._cursor_ns = ts
        while len(seen) > self.params.seen_max:
            seen.popitem(last=False)
        return fresh

    async def _emit(self, msg: MarketData, /) -> None:
        if msg.instrument != self.instrument:
            msg = _renamed(msg, self.instrument)
        await self.port.emit(msg, dst=self.params.to)
        self.emitted += 1
        # Let consumers run between messages: market data conflates in a busy mailbox.
        await anyio.lowlevel.checkpoint()


def _renamed(msg: Any, instrument: str, /) -> Any:
    assert isinstance(msg, Quote | Trade)
    return msgspec.structs.replace(msg, instrument=instrument)
