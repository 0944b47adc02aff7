"""Define the bodies the control API reads and writes, so OpenAPI is generated from one source.

Request bodies are strict (`forbid_unknown_fields`): a misspelt field is an error, never ignored.
String lengths and numbers are bounded here, so no client input can reach the journal as
something it cannot store (a timeout of 1e300 seconds, a megabyte of `reason`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from runtime import TradingScope, TradingState

Reason = Annotated[str, Meta(min_length=1, max_length=500)]
Text = Annotated[str, Meta(max_length=2000)]
Label = Annotated[str, Meta(min_length=1, max_length=200)]
TimeoutSecs = Annotated[float, Meta(gt=0, le=31_536_000)]
"""At most a year: a longer approval wait is a mistake, and its deadline must fit the journal."""

CONFIRM_LIVE = "I understand this enables live trading"
"""What `PUT /guard` needs in `confirm` to turn the paper-only guard off."""


class RequestBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: frozen, keyword-only, unknown fields refused."""


class ScopeCommand(RequestBody, frozen=True, kw_only=True):
    """Set a trading state for one scope (`POST /kill`, `/reduce`, `/resume`)."""

    scope: TradingScope = "global"
    target: Annotated[str, Meta(max_length=200)] = "*"
    """The venue, instrument, strategy or actor; ignored (`*`) at global scope."""
    reason: Reason


class QuarantineBody(RequestBody, frozen=True, kw_only=True):
    """Why a device is quarantined or released."""

    reason: Reason


class GuardBody(RequestBody, frozen=True, kw_only=True):
    """Turn the paper-only guard on, or off with admin, credentials and `confirm`."""

    paper_only: bool
    reason: Reason
    confirm: Annotated[str, Meta(max_length=200)] = ""
    """Must equal `I understand this enables live trading` to turn the guard off."""


class ApprovalCreate(RequestBody, frozen=True, kw_only=True):
    """Ask for an approval; the caller becomes the requester, who may not decide it."""

    action: Label
    detail: Text = ""
    timeout_secs: TimeoutSecs = 3600.0


class DecisionBody(RequestBody, frozen=True, kw_only=True):
    """Why a request is approved or rejected."""

    reason: Reason


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every 4xx (and 503) body: one message, in msgspec's style."""

    error: str


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """The liveness answer."""

    status: Literal["ok"] = "ok"


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One journaled envelope as JSON; `msg` carries its `type` tag and fields."""

    seq: int
    ts: int
    src: str
    dst: str
    corr: str
    cause: int
    inp: bool
    kind: Literal["in", "out"]
    msg: dict[str, Any]


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of events; pass `next_after` as `after` to get the next one."""

    events: list[Event]
    next_after: int


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One operator command: who, what, why, when."""

    seq: int
    ts: int
    who: str
    what: str
    why: str
    corr: str
    msg: dict[str, Any]


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the audit trail; pass `next_after` as `after` to get the next one."""

    entries: list[AuditEntry]
    next_after: int


class ScopeState(msgspec.Struct, frozen=True, kw_only=True):
    """A scope that is not ACTIVE, and the event that put it there."""

    scope: TradingScope
    target: str
    state: TradingState
    reason: str
    by: str
    seq: int
    ts: int


class TradingStates(msgspec.Struct, frozen=True, kw_only=True):
    """The trading states in force; scopes not listed are ACTIVE."""

    global_state: TradingState
    scopes: list[ScopeState]


class TradingResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a kill, reduce or resume did: the command, the state event and the cancel request."""

    corr: str
    command_seq: int
    state_seq: int
    cancel_seq: int | None
    event: Event


class Guard(msgspec.Struct, frozen=True, kw_only=True):
    """The paper-only guard and the event that last set it (`seq` 0: the configured value)."""

    paper_only: bool
    credentials_present: bool
    by: str
    reason: str
    seq: int


class GuardResult(msgspec.Struct, frozen=True, kw_only=True):
    """What `PUT /guard` did."""

    corr: str
    command_seq: int
    guard: Guard
    event: Event


class QuarantinedDevice(msgspec.Struct, frozen=True, kw_only=True):
    """A quarantined device and why."""

    device_id: str
    reason: str
    by: str
    seq: int
    ts: int


class Quarantine(msgspec.Struct, frozen=True, kw_only=True):
    """Every quarantined device."""

    count: int
    devices: list[QuarantinedDevice]


class QuarantineResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a quarantine or release did; `changed` is false when the device was already so."""

    corr: str
    command_seq: int
    device_id: str
    quarantined: bool
    changed: bool
    event: Event | None


ApprovalState = Literal["pending", "approved", "rejected"]


class Approval(msgspec.Struct, frozen=True, kw_only=True):
    """An approval request and, once decided, its decision."""

    request_id: str
    action: str
    detail: str
    requested_by: str
    requester: str
    state: ApprovalState
    expires_ns: int
    requested_seq: int
    decided_by: str = ""
    reason: str = ""
    decided_seq: int = 0


class Approvals(msgspec.Struct, frozen=True, kw_only=True):
    """Approval requests, oldest first."""

    approvals: list[Approval]


class ApprovalResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a request, an approval or a rejection did."""

    corr: str
    command_seq: int
    approval: Approval
    event: Event


class ActorStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One actor's counters and mailbox."""

    state: Literal["idle", "busy", "waiting", "stopped", "escalated"]
    handled: int
    handled_per_sec: float
    failures: int
    restarts: int
    position: int
    depth: int
    capacity: int
    high_water: int
    received: int
    dropped: int


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """The daemon at a glance."""

    run_id: str
    mode: str
    store: str
    uptime_secs: float
    seq: int
    durable_seq: int
    head: str
    """The journal's hash-chain head at `durable_seq` (what the store holds)."""
    actors: dict[str, ActorStatus]
    trading: TradingStates
    paper_only: bool
    quarantined: int
    pending_approvals: int
