"""Define the messages the kernel itself emits: timers, supervision, kill switch, effects.

They live in `runtime` because the kernel must emit them without importing any agent. The kill
switch message (`TradingStateChanged`) is here for the same reason: the supervisor publishes it
when a risk or execution actor escalates, and the risk agent owns the state machine behind it.
"""

from __future__ import annotations

from typing import Literal

from runtime._message import Message

TradingState = Literal["ACTIVE", "REDUCING", "HALTED"]
TradingScope = Literal["global", "venue", "instrument", "strategy", "actor"]


class TimerFired(Message, frozen=True, kw_only=True, tag="kernel.TimerFired"):
    """Deliver a timer an actor scheduled; an input, since a live clock decides when it fires."""

    timer_id: int
    key: str


class DeadLetter(Message, frozen=True, kw_only=True, tag="kernel.DeadLetter"):
    """Record a message an actor failed on and skipped (`resume`)."""

    actor: str
    seq: int
    error: str


class ActorRestarted(Message, frozen=True, kw_only=True, tag="kernel.ActorRestarted"):
    """Record that an actor was rebuilt from its factory with its state restored."""

    actor: str
    seq: int
    error: str
    restarts: int


class ActorEscalated(Message, frozen=True, kw_only=True, tag="kernel.ActorEscalated"):
    """Record that an actor failed past its restart intensity, or escalates by policy."""

    actor: str
    seq: int
    error: str


class TradingStateChanged(Message, frozen=True, kw_only=True, tag="kernel.TradingStateChanged"):
    """Announce a trading state for a scope; HALTED at global scope is the kill switch."""

    scope: TradingScope
    target: str
    state: TradingState
    reason: str
    by: str


class EffectAcked(Message, frozen=True, kw_only=True, tag="kernel.EffectAcked"):
    """Acknowledge that an adapter performed a write-ahead command; an input."""

    command_seq: int
    idem_key: str


class Conflated(Message, frozen=True, kw_only=True, tag="kernel.Conflated"):
    """Record market data an actor's mailbox replaced with newer data before the actor read it.

    An input: which messages a busy actor skipped depends on timing, so replay must be told.
    """

    actor: str
    kept: int
    dropped: list[int]


class EffectFailed(Message, frozen=True, kw_only=True, tag="kernel.EffectFailed"):
    """Report that an adapter could not perform a write-ahead command; an input."""

    command_seq: int
    idem_key: str
    error: str


class EffectReconciled(Message, frozen=True, kw_only=True, tag="kernel.EffectReconciled"):
    """Report what the counterparty says of a command that had no acknowledgement at a crash."""

    command_seq: int
    idem_key: str
    outcome: Literal["done", "not_done", "unknown"]
    detail: str = ""


class Start(Message, frozen=True, kw_only=True, tag="kernel.Start"):
    """Begin a run; every `on_start` runs as if handling it, so its outputs replay. An input."""


class Resumed(Message, frozen=True, kw_only=True, tag="kernel.Resumed"):
    """Announce that the daemon resumed an existing run (after a stop or a crash); an input.

    Published once recovery is done and the kernel runs, so actors that must look outside
    after a gap (execution reconciling open orders with its venues) can do so.
    """

    last_seq: int


class Stop(Message, frozen=True, kw_only=True, tag="kernel.Stop"):
    """Ask the kernel to stop after draining; an operator input (SIGINT, SIGTERM, the API)."""

    reason: str
