"""Banxa, the fiat on/off-ramp provider: the signed HTTP client, a fake server for mock mode,
and the kernel adapter that serves the ramp agent's commands and verifies Banxa's webhooks.

Mock mode (`MOCK_MODE=true` or the adapter's `mock = true`) starts the fake server on loopback
and points the same client at it: the code path is production's, only the base URL differs.
"""
