"""Kraken live: orders through ccxt's private API, their fills reported once, crash-safe.

Two pieces, one venue (see docs/venues.md):

- `KrakenVenue` (adapter kind `kraken`): the I/O. It places and cancels orders by client id
  (Kraken's `cl_ord_id`), polls open and closed orders and own trades, fetches balances, and
  after a crash asks Kraken what became of each unacknowledged command (never resending it).
  It says what Kraken said, as journaled reports (`reports.py`).
- `KrakenTracker` (an actor): turns those reports into the order contract's venue events
  (`OrderAccepted`, `OrderFilled`, `OrderCanceled`, ...), each exactly once. Its state is an
  actor's, so snapshots, recovery and replay keep the dedupe exact across crashes.

Credentials come from `EXCHANGE_API_KEY` and `EXCHANGE_API_SECRET` only, and never reach a log.
"""

from adapters.venues.kraken.config import KrakenTrackerConfig as KrakenTrackerConfig
from adapters.venues.kraken.config import KrakenVenueConfig as KrakenVenueConfig
from adapters.venues.kraken.ids import cl_ord_id as cl_ord_id
from adapters.venues.kraken.reports import KrakenBalances as KrakenBalances
from adapters.venues.kraken.reports import KrakenFillReport as KrakenFillReport
from adapters.venues.kraken.reports import KrakenOrderReport as KrakenOrderReport
from adapters.venues.kraken.tracker import KrakenTracker as KrakenTracker
from adapters.venues.kraken.venue import KrakenVenue as KrakenVenue

__all__ = [
    "KrakenBalances",
    "KrakenFillReport",
    "KrakenOrderReport",
    "KrakenTracker",
    "KrakenTrackerConfig",
    "KrakenVenue",
    "KrakenVenueConfig",
    "cl_ord_id",
]
