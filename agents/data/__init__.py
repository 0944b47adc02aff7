"""Market data: simulated feeds and the bars built from them."""
