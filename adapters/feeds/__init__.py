"""Feed recorded market data into the sim kernel: files of candles, trades and raw feeds.

Readers (`files`, `binance_ws`) turn a file into `(ts_ns, message)` pairs in time order; the
feed adapters (`data`) are the config kinds (`candles_file`, `trades_file`, `binance_feed_file`)
whose `events()` the sim kernel pulls as a source.
"""

from adapters.feeds.files import FeedBrokenError as FeedBrokenError
from adapters.feeds.files import read_candles as read_candles
from adapters.feeds.files import read_trades as read_trades

__all__ = ["FeedBrokenError", "read_candles", "read_trades"]
