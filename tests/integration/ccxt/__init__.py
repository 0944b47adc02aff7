"""ccxt public data against the fake Kraken on loopback: real replies, real HTTP."""
