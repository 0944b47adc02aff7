"""Execution: the order contract, the order state machine, client ids, reconciliation."""
