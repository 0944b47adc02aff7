"""Venues: where orders go. Today the simulated venue (backtests and paper trading)."""
