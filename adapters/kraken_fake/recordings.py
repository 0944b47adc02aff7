"""Hold the Kraken replies the fake serves, and page through them as Kraken's `since` does.

The fake replays real data: Kraken's own replies (`kraken_rest_*.json`, the recorded replies of
ccxt's static tests) row for row, and Kraken's official OHLCVT history files turned into OHLC
rows. JSON numbers are kept as `Decimal`s and re-encoded as the same JSON numbers, so a trade
time `1762795433.9717445` reaches ccxt with the digits Kraken sent.

Paging follows Kraken's rules, with one deliberate difference: the real `OHLC` endpoint serves
only the latest 720 candles whatever `since` says, while the fake serves its whole history from
`since` on, so a backfill from 2023 pages through the OHLCVT files as it would through a venue
with full history.

- `OHLC`: rows with time > `since` (seconds), at most `ohlc_page`; no `since`: the latest.
- `Trades`: `since` in seconds (trades at or after it) or a `last` id in ns (trades after it),
  at most `count`; no `since`: the latest.
- `last`: the recorded `last` once a page reaches the end of a recording, else the time of the
  page's last row (ns as a string for trades, as Kraken does).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from adapters.feeds.files import open_text, read_candles

Row = list[Any]
"""One row of a Kraken reply, as recorded (strings, ints, `Decimal`s for JSON floats)."""

DECODER = msgspec.json.Decoder(float_hook=Decimal)
ENCODER = msgspec.json.Encoder(decimal_format="number")
"""Decode JSON floats as `Decimal` and encode them back as the same numbers: no float on the way."""

NS_PER_S = 1_000_000_000
_NS_SINCE = 10**12
"""A trades `since` at or above this is a ns `last` id; below, unix seconds (Kraken takes both)."""

TIMEFRAME_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440}

_CSV_FILES = {
    "kraken_xbtusdc_1m_2023q1_ohlcvt.csv.gz": ("XBTUSDC", 1),
    "kraken_xbtusd_5m_2023q1_ohlcvt.csv.gz": ("XXBTZUSD", 5),
}
_OHLC_FILES = {"kraken_rest_ohlc_xbtusdt_1m.json": 1}
_TRADE_FILES = ("kraken_rest_trades_xbtusdt.json",)
_STATIC = "ccxt_static_response_kraken.json"


@dataclass
class Recording:
    """Rows of one pair (and interval), sorted by time, and the `last` Kraken sent with them."""

    rows: list[Row]
    times: list[int]
    """The sort key of each row: seconds for OHLC, ns for trades."""
    last: Any = None

    def page(self, start: int, count: int) -> tuple[list[Row], bool]:
        """Return up to `count` rows from index `start`, and whether they reach the end."""
        rows = self.rows[start : start + count]
        return rows, start + count >= len(self.rows)


def _ohlc_time(row: Row) -> int:
    return int(row[0])


def _trade_time(row: Row) -> int:
    return int(Decimal(row[2]) * NS_PER_S)


@dataclass
class KrakenRecordings:
    """Every reply the fake can serve, by Kraken pair id."""

    ohlc: dict[tuple[str, int], Recording] = field(default_factory=dict)
    trades: dict[str, Recording] = field(default_factory=dict)
    tickers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dir(cls, path: str | Path, /) -> KrakenRecordings:
        """Load every known recording under `path` (`../shared/data`); absent files are skipped."""
        rec = cls()
        root = Path(path)
        for name, (pair, interval) in _CSV_FILES.items():
            if (root / name).exists():
                rec.add_ohlc(pair, interval, _ohlcvt_rows(root / name, interval))
        for name, interval in _OHLC_FILES.items():
            if (root / name).exists():
                for pair, rows, last in _result_rows(_read_json(root / name)):
                    rec.add_ohlc(pair, interval, rows, last=last)
        for name in _TRADE_FILES:
            if (root / name).exists():
                for pair, rows, last in _result_rows(_read_json(root / name)):
                    rec.add_trades(pair, rows, last=last)
        if (root / _STATIC).exists():
            rec.add_static_cases(_read_json(root / _STATIC))
        return rec

    def add_static_cases(self, static: dict[str, Any], /) -> None:
        """Add the recorded replies of ccxt's static tests (`methods.<name>[].httpResponse`)."""
        for case in static["methods"].get("fetchOHLCV", []):
            interval = TIMEFRAME_MINUTES[case["input"][1]]
            for pair, rows, last in _result_rows(case["httpResponse"]):
                self.add_ohlc(pair, interval, rows, last=last)
        for case in static["methods"].get("fetchTrades", []):
            for pair, rows, last in _result_rows(case["httpResponse"]):
                self.add_trades(pair, rows, last=last)
        for case in static["methods"].get("fetchTicker", []):
            self.tickers.update(case["httpResponse"]["result"])

    def add_ohlc(
        self, pair: str, interval: int, rows: Iterable[Row], /, *, last: Any = None
    ) -> None:
        """Add OHLC rows of `pair` at `interval` minutes; a row at a known time replaces it."""
        self.ohlc[pair, interval] = _merge(self.ohlc.get((pair, interval)), rows, last, _ohlc_time)

    def add_trades(self, pair: str, rows: Iterable[Row], /, *, last: Any = None) -> None:
        """Add trade rows of `pair` (`[price, volume, time, side, type, misc, id, ...]`)."""
        self.trades[pair] = _merge(self.trades.get(pair), rows, last, _trade_time, unique=False)

    def ohlc_page(
        self, pair: str, interval: int, /, *, since: int | None, count: int
    ) -> tuple[list[Row], Any]:
        """Return the OHLC rows after `since` (seconds) and the reply's `last`."""
        rec = self.ohlc.get((pair, interval))
        if rec is None:
            return [], since or 0
        if since is None:
            start = max(len(rec.rows) - count, 0)
        else:
            start = bisect.bisect_right(rec.times, since)
        rows, at_end = rec.page(start, count)
        if at_end and rec.last is not None:
            return rows, rec.last
        return rows, rows[-1][0] if rows else (since or 0)

    def trades_page(self, pair: str, /, *, since: int | None, count: int) -> tuple[list[Row], str]:
        """Return the trades from `since` (seconds, or a ns `last` id) and the reply's `last`."""
        rec = self.trades.get(pair)
        if rec is None:
            return [], str(since or 0)
        if since is None:
            start = max(len(rec.rows) - count, 0)
        elif since >= _NS_SINCE:
            start = bisect.bisect_right(rec.times, since)
        else:
            start = bisect.bisect_left(rec.times, since * NS_PER_S)
        rows, at_end = rec.page(start, count)
        if at_end and rec.last is not None:
            return rows, str(rec.last)
        return rows, str(_trade_time(rows[-1]) if rows else since or 0)


def _merge(
    old: Recording | None,
    rows: Iterable[Row],
    last: Any,
    key: Callable[[Row], int],
    *,
    unique: bool = True,
) -> Recording:
    """Merge `rows` into `old`; `last` is that of whichever recording ends later."""
    new = list(rows)
    merged = [*(old.rows if old else ()), *new]
    if unique:
        merged = list({key(r): r for r in merged}.values())
    merged.sort(key=key)
    if old is not None and old.rows and (not new or max(map(key, new)) < key(old.rows[-1])):
        last = old.last
    return Recording(merged, [key(r) for r in merged], last)


def _read_json(path: Path) -> Any:
    with open_text(path) as f:
        return DECODER.decode(f.read())


def _result_rows(reply: dict[str, Any]) -> Iterable[tuple[str, list[Row], Any]]:
    result = reply["result"]
    for pair, rows in result.items():
        if pair != "last":
            yield pair, rows, result.get("last")


def _ohlcvt_rows(path: Path, interval: int) -> list[Row]:
    """Turn an OHLCVT history file into OHLC rows `[time, o, h, l, c, vwap, volume, count]`.

    The file has no vwap; the close stands in for it (ccxt ignores the column).
    """
    rows = []
    for _, bar in read_candles(
        path, format="kraken_ohlcvt", instrument="", timeframe_secs=interval * 60
    ):
        close = f"{bar.close:f}"
        rows.append(
            [
                bar.start_ns // NS_PER_S,
                f"{bar.open:f}",
                f"{bar.high:f}",
                f"{bar.low:f}",
                close,
                close,
                f"{bar.volume:f}",
                bar.trades,
            ]
        )
    return rows
