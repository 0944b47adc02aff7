"""Domain agents: one package per domain, each with `messages.py`, pure logic and `actor.py`."""
