"""Risk: trading states per scope, the paper-only guard, the pre-trade gate every order passes."""
