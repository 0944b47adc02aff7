"""Fake Kraken: Kraken's public REST API answered from real recorded replies, on loopback.

Mock mode and tests point ccxt at it (`exchange.urls['api']`), so the real ccxt code path parses
real Kraken replies with no network. `python -m adapters.kraken_fake` serves it for demos.

    fake = FakeKraken(KrakenRecordings.from_dir("../shared/data"))
    with running(fake) as url:          # or, in an event loop: await tg.start(serve, fake)
        ...                             # CcxtDataConfig(exchange="kraken", api_url=url)
"""

from adapters.kraken_fake.app import FakeKraken as FakeKraken
from adapters.kraken_fake.app import build_app as build_app
from adapters.kraken_fake.config import FakeKrakenConfig as FakeKrakenConfig
from adapters.kraken_fake.recordings import KrakenRecordings as KrakenRecordings
from adapters.kraken_fake.server import FakeKrakenBindError as FakeKrakenBindError
from adapters.kraken_fake.server import running as running
from adapters.kraken_fake.server import serve as serve

__all__ = [
    "FakeKraken",
    "FakeKrakenBindError",
    "FakeKrakenConfig",
    "KrakenRecordings",
    "build_app",
    "running",
    "serve",
]
