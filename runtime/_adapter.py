"""Define what an adapter is to the kernel: the only code allowed to touch the outside world.

An adapter receives write-ahead commands (`Message.effect`) sent to its name, performs them with
the command's idempotency key, and returns result messages that re-enter the bus as journaled
inputs. After a crash, a command that was journaled but never acknowledged goes to `reconcile`,
which asks the counterparty what happened (by the same key) instead of sending it again.

A live adapter may also feed inputs on its own (a market data stream) through its `AdapterPort`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, Protocol

from runtime._message import Envelope, Message


class AdapterPort(Protocol):
    """Let an adapter feed inputs into the bus; awaiting applies the kernel's backpressure."""

    async def emit(self, msg: Message, /, *, corr: str = "", dst: str = "") -> None: ...


class Reconciliation(NamedTuple):
    """What the counterparty says of a command journaled before a crash and never acknowledged.

    `done`: it happened (and `messages` report its results); `not_done`: it never arrived, and
    nothing will happen unless an actor decides to issue a new command; `unknown`: the adapter
    cannot tell, and an operator must look.
    """

    outcome: Literal["done", "not_done", "unknown"]
    messages: Sequence[Message] = ()
    detail: str = ""


class Adapter:
    """Base class of adapters. Override `execute` (and `reconcile` when effects are external).

    `external = False` marks an adapter whose effects stay inside the process and are
    deterministic (a simulated venue): the kernel then skips the durable flush before `execute`
    and the acknowledgement rows, since replay re-derives everything such an adapter does.
    """

    external: ClassVar[bool] = True
    name: str = ""
    data_dir: Path | None = None
    """The daemon's data dir (set before `start`), for an adapter that keeps files of its own;
    None in backtests and replay."""

    async def start(self, port: AdapterPort, /) -> None:
        """Open connections; called once before the kernel delivers anything to this adapter."""
        self.port = port

    async def stop(self) -> None:
        """Close connections; called once when the kernel stops."""

    async def execute(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Sequence[Message]:
        """Perform `cmd` at most once per `idem_key`; return the result messages."""
        raise TypeError(f"adapter `{self.name}` does not accept `{type(cmd).__name__}`")

    async def reconcile(self, cmd: Message, /, *, idem_key: str, env: Envelope) -> Reconciliation:
        """Ask the counterparty about `cmd`, journaled before a crash and never acknowledged.

        Never perform `cmd` here. The default, for an adapter that cannot ask, says `unknown`.
        """
        return Reconciliation("unknown", (), "adapter cannot query its counterparty")

    async def run(self) -> Any:
        """Feed inputs until cancelled (live data); the kernel runs this in its task group."""
        return None

    feeds: ClassVar[bool] = False
    """Whether `run` feeds inputs and must be started by the live kernel."""
