"""Configure the file feeds: one `Params` struct per feed kind, decoded from `[[adapters]]`.

Paths are used as given: a relative path resolves against the current working directory of the
`kinetic` process (not the config file's directory, not the data dir). From a checkout in
`/work/main`, `../shared/data/<file>` is the workspace's shared data; read it there, never copy it
into the repository. Replay re-reads the same path, so replay from the same directory (or use
absolute paths); a file that changed since the run is named as the first diverging input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from adapters.feeds.files import CandleFormat, TradeFormat
from runtime.config import ConfigBase, NonEmptyStr, NonNegativeInt, PositiveInt

IsoTime = Annotated[str, Meta(min_length=1)]


class FeedWindowConfig(ConfigBase, frozen=True, kw_only=True):
    """Select part of a file: a time window on the stamped times, and a cap on messages."""

    path: NonEmptyStr
    """The file (plain or gzip), relative to the current directory (`../shared/data/...`)."""
    instrument: NonEmptyStr
    """Instrument name the messages carry (`BTC/USDT`); files do not say it reliably."""
    start: IsoTime | None = None
    """First stamp to emit, ISO 8601 (`2025-05-20T00:00:00Z`; no zone means UTC), inclusive."""
    end: IsoTime | None = None
    """Stamp to stop before, ISO 8601, exclusive."""
    limit: NonNegativeInt | None = None
    """Most messages to emit (after `start`); unset: all."""
    to: str = ""
    """Send every message to this actor instead of publishing it: a simulated venue with
    `relay = true` matches each bar first, then publishes it. Unset: publish."""

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                iso_ns(value, field=name)
        if self.start and self.end and iso_ns(self.start) >= iso_ns(self.end):
            raise ValueError(f"`end` must be after `start`, got {self.start} .. {self.end}")

    @property
    def start_ns(self) -> int | None:
        """Return `start` in ns since the epoch."""
        return None if self.start is None else iso_ns(self.start)

    @property
    def end_ns(self) -> int | None:
        """Return `end` in ns since the epoch."""
        return None if self.end is None else iso_ns(self.end)


class CandlesFileConfig(FeedWindowConfig, frozen=True, kw_only=True):
    """Params of kind `candles_file`: `Bar`s stamped at their close."""

    format: CandleFormat
    """`binance_csv`, `kraken_ohlcvt`, `ftx_csv` or `kraken_rest_ohlc`."""
    timeframe_secs: PositiveInt
    """Candle length; the files do not record it (sparse files cannot even imply it)."""


class TradesFileConfig(FeedWindowConfig, frozen=True, kw_only=True):
    """Params of kind `trades_file`: `Trade`s stamped at the venue's trade time."""

    format: TradeFormat
    """`kraken_trades_csv` or `kraken_rest_trades`."""


class BinanceFeedFileConfig(FeedWindowConfig, frozen=True, kw_only=True):
    """Params of kind `binance_feed_file`: `Quote`, `Trade` (and `BookDelta`) at receive time."""

    more_paths: list[NonEmptyStr] = msgspec.field(default_factory=list)
    """Later files of the same recording, read after `path` as one feed."""
    depth: bool = False
    """Also emit the order book as `BookDelta`s (many messages; never conflated)."""


def iso_ns(text: str, /, *, field: str = "time") -> int:
    """Return ISO 8601 `text` as ns since the epoch; a time without a zone is UTC."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"`{field}` must be an ISO 8601 time, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
