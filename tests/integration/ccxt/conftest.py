"""Serve the fake Kraken from the real recordings on loopback, once per test."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from adapters.ccxt import CcxtPublicData
from adapters.kraken_fake import FakeKraken, KrakenRecordings, running
from tests.conftest import SHARED_DATA, shared_data


@pytest.fixture(scope="session")
def recordings() -> KrakenRecordings:
    """Return every recording in ../shared/data (skip outside CI when it is absent)."""
    shared_data("ccxt_static_response_kraken.json")
    shared_data("kraken_xbtusdc_1m_2023q1_ohlcvt.csv.gz")
    return KrakenRecordings.from_dir(SHARED_DATA)


@pytest.fixture
def fake(recordings: KrakenRecordings) -> FakeKraken:
    """Return a fresh fake venue over the shared recordings (its knobs are per test).

    The recordings' tables are copied, so a test that adds trades or candles (`add_trades`
    replaces a pair's recording) leaves the session's recordings as they were for the next.
    """
    own = dataclasses.replace(
        recordings,
        ohlc=dict(recordings.ohlc),
        trades=dict(recordings.trades),
        tickers=dict(recordings.tickers),
    )
    return FakeKraken(own)


@pytest.fixture
def kraken_url(fake: FakeKraken) -> Iterator[str]:
    """Serve `fake` from a background thread; yield its base URL."""
    with running(fake) as url:
        yield url


def client(url: str, /, **options: object) -> CcxtPublicData:
    """Return an unopened Kraken client pointed at `url`, retrying fast."""
    return CcxtPublicData.from_options(
        **{"exchange": "kraken", "api_url": url, "retry_backoff_ms": 10.0, **options}
    )
