"""Fiat on-ramp and off-ramp through a Banxa-shaped provider, with custodial wallets."""
