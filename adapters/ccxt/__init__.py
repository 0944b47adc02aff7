"""ccxt public market data: a client, backfill and sync into the candle store, gap reports.

- `config`: `CcxtDataConfig` (exchange id, API URL override, retries).
- `data`: `CcxtPublicData`, candles, ticker, order book and trades as Kinetic messages.
- `convert`: ccxt's floats to exact `Decimal`s, ccxt structures to messages.
- `sync`: `CandleSync`, resumable backfill, sync of stored series, gap reports.

Mock mode points the client at the fake Kraken (`adapters.kraken_fake`) with `api_url`.
"""

from adapters.ccxt.config import CcxtDataConfig as CcxtDataConfig
from adapters.ccxt.data import CcxtPublicData as CcxtPublicData
from adapters.ccxt.errors import VenueBrokenError as VenueBrokenError
from adapters.ccxt.errors import VenueClosedError as VenueClosedError
from adapters.ccxt.errors import VenueRequestError as VenueRequestError
from adapters.ccxt.sync import BackfillReport as BackfillReport
from adapters.ccxt.sync import CandleSync as CandleSync
from adapters.ccxt.sync import SeriesGaps as SeriesGaps

__all__ = [
    "BackfillReport",
    "CandleSync",
    "CcxtDataConfig",
    "CcxtPublicData",
    "SeriesGaps",
    "VenueBrokenError",
    "VenueClosedError",
    "VenueRequestError",
]
