"""A fake Banxa: the same endpoints, signature checks and order progression, on loopback."""

from adapters.banxa.mock.app import FakeBanxa, build_app
from adapters.banxa.mock.server import MOCK_KEY, MOCK_SECRET, running, serve

__all__ = ["MOCK_KEY", "MOCK_SECRET", "FakeBanxa", "build_app", "running", "serve"]
