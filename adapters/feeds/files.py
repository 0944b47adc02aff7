"""Read recorded market data files as `(ts_ns, message)` pairs in time order, streaming.

Every reader opens its file lazily, yields one pair per row and holds one row in memory at a
time, so a 130,708-candle file costs a file buffer, not 130,708 objects. Prices and sizes are
`Decimal(text)` straight from the file (never through `float`), so `str(bar.close)` is the text
the venue wrote. Files may be gzip-compressed; the magic bytes decide, not the suffix.

Time stamping, the one rule a backtest's honesty rests on:

- a candle is stamped at its **close**, `open + timeframe`: a strategy cannot see a bar before
  the interval it summarizes has ended (stamping at the open would leak the future's high, low
  and close into decisions taken at the open);
- a trade is stamped at the venue's trade time; a websocket message at its local receive time
  (see `binance_ws`).

Each reader checks the order of its rows and raises `FeedBrokenError` (naming the file and line)
when a timestamp goes backwards, or when a row does not parse.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Literal, TypeVar, cast

import msgspec

from agents.data.messages import Bar, Trade
from runtime import KineticError

CandleFormat = Literal["binance_csv", "kraken_ohlcvt", "ftx_csv", "kraken_rest_ohlc"]
TradeFormat = Literal["kraken_trades_csv", "kraken_rest_trades"]
CANDLE_FORMATS: tuple[CandleFormat, ...] = (
    "binance_csv",
    "kraken_ohlcvt",
    "ftx_csv",
    "kraken_rest_ohlc",
)
TRADE_FORMATS: tuple[TradeFormat, ...] = ("kraken_trades_csv", "kraken_rest_trades")

M = TypeVar("M")

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
_EPOCH = datetime(1970, 1, 1)  # naive: the files' naive timestamps are UTC


class FeedBrokenError(KineticError):
    """A market data file does not parse, or its timestamps go backwards."""


def open_binary(path: str | Path, /) -> IO[bytes]:
    """Open `path` for reading bytes, gunzipping when it starts with the gzip magic bytes."""
    p = Path(path)
    with p.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return cast(IO[bytes], gzip.open(p, "rb"))
    return p.open("rb")


def open_text(path: str | Path, /) -> IO[str]:
    """Open `path` as UTF-8 text, gunzipping as `open_binary` does."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", newline="")


def read_candles(
    path: str | Path,
    /,
    *,
    format: CandleFormat,
    instrument: str,
    timeframe_secs: int,
) -> Iterator[tuple[int, Bar]]:
    """Yield `(close_ns, Bar)` per candle of `path`, in time order (see the module docstring)."""
    if timeframe_secs <= 0:
        raise ValueError(f"`timeframe_secs` must be > 0, got {timeframe_secs}")
    tf = timeframe_secs * _NS_PER_S
    if format == "kraken_rest_ohlc":
        return _checked(path, _kraken_rest_ohlc(path, instrument, tf))
    if format == "ftx_csv":
        return _text_candles(path, instrument, tf, _naive_utc)
    if format == "kraken_ohlcvt":
        return _numeric_candles(path, instrument, tf, unit_ns=_NS_PER_S, trades=True, header=False)
    return _numeric_candles(path, instrument, tf, unit_ns=_NS_PER_MS, trades=False, header=True)


def read_trades(
    path: str | Path, /, *, format: TradeFormat, instrument: str
) -> Iterator[tuple[int, Trade]]:
    """Yield `(trade_ns, Trade)` per trade of `path`, in time order (ties keep file order)."""
    if format == "kraken_rest_trades":
        return _checked(path, _kraken_rest_trades(path, instrument), strict=False)
    return _kraken_trades_csv(path, instrument)


# -- CSV -------------------------------------------------------------------------------------


def _naive_utc(text: str) -> int:
    delta = datetime.fromisoformat(text) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * 1_000


_BLOCK_BYTES = 1 << 16
"""About a thousand candle rows: a block's `Decimal`s are still in the CPU caches when the run
takes them (1 MiB blocks cost a third more per row), and a run that stops early (`limit`) parses
at most one block more than it reads."""
_ROWS6 = msgspec.json.Decoder(list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]])
_ROWS7 = msgspec.json.Decoder(list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, int]])


def _blocks(path: str | Path, *, header: bool) -> Iterator[tuple[int, bytes]]:
    """Yield `(first line number, whole lines)` in blocks of about `_BLOCK_BYTES`."""
    with open_binary(path) as f:
        line_no = 1
        if header:
            f.readline()
            line_no = 2
        rest = b""
        while True:
            block = f.read(_BLOCK_BYTES)
            data = rest + block
            if block:
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                data, rest = data[:cut], data[cut + 1 :]
            if data.strip():
                yield line_no, data
            line_no += data.count(b"\n") + 1
            if not block:
                return


def _numeric_candles(
    path: str | Path, instrument: str, tf: int, *, unit_ns: int, trades: bool, header: bool
) -> Iterator[tuple[int, Bar]]:
    """Parse all-numeric candle CSVs a block at a time, as JSON arrays, with msgspec.

    msgspec turns a JSON number into a `Decimal` from its digits (exact, never via float), and
    parsing a block in C is about a third faster than splitting lines in Python. A block that
    does not parse goes through the line parser, which names the bad line.
    """
    decoder: msgspec.json.Decoder[list[Any]] = _ROWS7 if trades else _ROWS6
    last = -1
    for first, data in _blocks(path, header=header):
        try:
            rows = decoder.decode(b"[[" + data.replace(b"\n", b"],[") + b"]]")
        except msgspec.DecodeError:
            lines = data.decode("utf-8", "replace").split("\n")
            parse = _ms if unit_ns == _NS_PER_MS else _secs
            for n, ts, bar in _candle_lines(path, lines, first, instrument, tf, parse, trades):
                if bar.start_ns <= last:
                    raise _order_error(path, n, bar.start_ns, last, strict=True) from None
                last = bar.start_ns
                yield ts, bar
            continue
        for i, row in enumerate(rows):
            start = row[0] * unit_ns
            if start <= last:
                raise _order_error(path, first + i, start, last, strict=True)
            last = start
            yield (
                start + tf,
                Bar(
                    instrument=instrument,
                    start_ns=start,
                    end_ns=start + tf,
                    open=row[1],
                    high=row[2],
                    low=row[3],
                    close=row[4],
                    volume=row[5],
                    trades=row[6] if trades else 0,
                ),
            )


def _ms(text: str) -> int:
    return int(text) * _NS_PER_MS


def _secs(text: str) -> int:
    return int(text) * _NS_PER_S


def _text_candles(
    path: str | Path, instrument: str, tf: int, parse_open: Callable[[str], int]
) -> Iterator[tuple[int, Bar]]:
    """Parse a candle CSV with a header line, line by line (timestamps that are not numbers)."""
    last = -1
    with open_text(path) as f:
        next(f, None)
        for n, ts, bar in _candle_lines(path, f, 2, instrument, tf, parse_open, False):
            if bar.start_ns <= last:
                raise _order_error(path, n, bar.start_ns, last, strict=True)
            last = bar.start_ns
            yield ts, bar


def _candle_lines(
    path: str | Path,
    lines: Iterable[str],
    first: int,
    instrument: str,
    tf: int,
    parse_open: Callable[[str], int],
    has_trades: bool,
) -> Iterator[tuple[int, int, Bar]]:
    """Yield `(line number, close_ns, Bar)` per non-blank line of a candle CSV."""
    dec = Decimal
    for n, line in enumerate(lines, first):
        fields = line.split(",")
        try:
            start = parse_open(fields[0])
            bar = Bar(
                instrument=instrument,
                start_ns=start,
                end_ns=start + tf,
                open=dec(fields[1]),
                high=dec(fields[2]),
                low=dec(fields[3]),
                close=dec(fields[4]),
                volume=dec(fields[5]),
                trades=int(fields[6]) if has_trades else 0,
            )
        except (ValueError, IndexError, InvalidOperation) as exc:
            if not line.strip():
                continue
            raise _row_error(path, n, line) from exc
        yield n, start + tf, bar


def _kraken_trades_csv(path: str | Path, instrument: str) -> Iterator[tuple[int, Trade]]:
    dec = Decimal
    sides = _SIDES
    last = -1
    with open_text(path) as f:
        next(f, None)  # ts_ms,id,type,side,price,amount,cost
        for n, line in enumerate(f, 2):
            fields = line.split(",")
            try:
                ts = int(fields[0]) * _NS_PER_MS
                trade = Trade(
                    instrument=instrument,
                    price=dec(fields[4]),
                    size=dec(fields[5]),
                    side=sides[fields[3]],
                    trade_id=fields[1],
                )
            except (ValueError, IndexError, KeyError, InvalidOperation) as exc:
                if not line.strip():
                    continue
                raise _row_error(path, n, line) from exc
            if ts < last:
                raise _order_error(path, n, ts, last, strict=False)
            last = ts
            yield ts, trade


_SIDES: dict[str, Literal["buy", "sell", "unknown"]] = {
    "buy": "buy",
    "sell": "sell",
    "b": "buy",
    "s": "sell",
    "": "unknown",
}

# -- Kraken REST replies ---------------------------------------------------------------------

# Kraken prints prices as strings (exact) and trade times as JSON floats with 7 decimals; the
# float hook keeps those as `Decimal` too, so ns timestamps are exact to the digits given.
_REST_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def _rest_result(path: str | Path) -> tuple[list[list[object]], object]:
    with open_text(path) as f:
        reply = _REST_DECODER.decode(f.read())
    if reply.get("error"):
        raise FeedBrokenError(f"{path}: Kraken replied with errors: {reply['error']}")
    result = reply["result"]
    pairs = [k for k in result if k != "last"]
    if len(pairs) != 1:
        raise FeedBrokenError(f"{path}: expected one pair in `result`, got {pairs}")
    return result[pairs[0]], result.get("last")


def _kraken_rest_ohlc(path: str | Path, instrument: str, tf: int) -> Iterator[tuple[int, Bar]]:
    """Yield the committed candles of a `GET /0/public/OHLC` reply.

    Rows: `[time, open, high, low, close, vwap, volume, count]`. The last row of a reply is the
    candle still forming (its time is after `last`, the newest committed candle); it is dropped.
    """
    dec = Decimal
    rows, last = _rest_result(path)
    newest = int(str(last)) * _NS_PER_S if last is not None else None
    for row in rows:
        start = int(str(row[0])) * _NS_PER_S
        if newest is not None and start > newest:
            break
        bar = Bar(
            instrument=instrument,
            start_ns=start,
            end_ns=start + tf,
            open=dec(str(row[1])),
            high=dec(str(row[2])),
            low=dec(str(row[3])),
            close=dec(str(row[4])),
            volume=dec(str(row[6])),
            trades=int(str(row[7])),
        )
        yield start + tf, bar


def _kraken_rest_trades(path: str | Path, instrument: str) -> Iterator[tuple[int, Trade]]:
    """Yield the trades of a `GET /0/public/Trades` reply.

    Rows: `[price, volume, time, buy/sell, market/limit, misc, trade_id]`.
    """
    dec = Decimal
    rows, _ = _rest_result(path)
    for row in rows:
        ts = int(dec(str(row[2])) * _NS_PER_S)
        yield (
            ts,
            Trade(
                instrument=instrument,
                price=dec(str(row[0])),
                size=dec(str(row[1])),
                side=_SIDES[str(row[3])],
                trade_id=str(row[6]),
            ),
        )


# -- errors and order -----------------------------------------------------------------------


def _row_error(path: str | Path, line_no: int, line: str) -> FeedBrokenError:
    return FeedBrokenError(f"{path}: line {line_no} does not parse: {line.strip()!r}")


def _order_error(path: str | Path, line_no: int, ts: int, last: int, *, strict: bool) -> Exception:
    rule = "increase" if strict else "not decrease"
    return FeedBrokenError(f"{path}: line {line_no}: timestamps must {rule}, got {ts} after {last}")


def _checked(
    path: str | Path, rows: Iterator[tuple[int, M]], *, strict: bool = True
) -> Iterator[tuple[int, M]]:
    """Pass `rows` through, raising `FeedBrokenError` when time steps back (JSON replies).

    `strict`: timestamps must increase (candles); otherwise they may repeat (trades).
    """
    last = -1
    for n, (ts, msg) in enumerate(rows, 1):
        if ts < last or (strict and ts == last):
            raise _order_error(path, n, ts, last, strict=strict)
        last = ts
        yield ts, msg
