"""Custodial wallet providers: the interface a real one implements, and a deterministic stub."""

from adapters.wallets.base import Transfer, WalletAdapter, WalletProvider
from adapters.wallets.stub import StubProvider, StubWallets

__all__ = ["StubProvider", "StubWallets", "Transfer", "WalletAdapter", "WalletProvider"]
