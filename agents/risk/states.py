"""Decide the trading state in force for an order from the states set per scope; pure logic.

States are set per scope: `global`, `venue`, `instrument`, `strategy` and `actor` (the actor that
submitted the order). The state in force is the most restrictive of those that match:
HALTED over REDUCING over ACTIVE. Setting a scope back to ACTIVE removes its entry.
"""

from __future__ import annotations

import msgspec

from runtime import TradingScope, TradingState

SEVERITY: dict[TradingState, int] = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


def scope_key(scope: TradingScope, target: str, /) -> str:
    """Return the key a state is stored under: `global` or `<scope>:<target>`."""
    return "global" if scope == "global" else f"{scope}:{target}"


class TradingStates(msgspec.Struct, kw_only=True):
    """The non-ACTIVE states, by scope key."""

    states: dict[str, TradingState] = msgspec.field(default_factory=dict)

    def set(self, scope: TradingScope, target: str, state: TradingState, /) -> TradingState:
        """Set a scope's state; return the state it had."""
        key = scope_key(scope, target)
        before = self.states.get(key, "ACTIVE")
        if state == "ACTIVE":
            self.states.pop(key, None)
        else:
            self.states[key] = state
        return before

    def in_force(self, *, venue: str, instrument: str, strategy: str, actor: str) -> TradingState:
        """Return the most restrictive state among the scopes an order belongs to."""
        worst: TradingState = "ACTIVE"
        states = self.states
        if not states:
            return worst
        for key in (
            "global",
            f"venue:{venue}",
            f"instrument:{instrument}",
            f"strategy:{strategy}",
            f"actor:{actor}",
        ):
            st = states.get(key)
            if st is not None and SEVERITY[st] > SEVERITY[worst]:
                worst = st
        return worst
