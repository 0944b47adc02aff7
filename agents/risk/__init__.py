"""Risk: trading states per scope, the paper-only guard, and the pre-trade gate every order
passes (no leverage, size and exposure caps, price band, throttles, stale data, drawdown tiers)."""
