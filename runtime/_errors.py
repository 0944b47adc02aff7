"""Define the one exception hierarchy every Kinetic error derives from.

Messages follow msgspec's style: lowercase, the field in backticks, the bad value, no final period.
*Closed* errors mean our side closed a resource; *Broken* errors mean something outside failed and
carry the cause chained.
"""

from __future__ import annotations


class KineticError(Exception):
    """Base of every error Kinetic raises on purpose."""


class ConfigError(KineticError):
    """Reject a configuration: names the file, the key path and what was expected."""


class RegistryError(KineticError):
    """Reject a message type or a plugin kind that cannot be registered or found."""


class JournalBrokenError(KineticError):
    """Report a hash chain that does not verify; `seq` names the first broken link."""

    def __init__(self, message: str, *, run_id: str, seq: int) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.seq = seq


class JournalClosedError(KineticError):
    """Refuse an append to a journal that this process already closed."""


class StoreBrokenError(KineticError):
    """Report a store (SQLite, PostgreSQL) that failed underneath us; the cause is chained."""


class StoreClosedError(KineticError):
    """Refuse a call on a store this process has not opened, or has closed."""


class StoreLockedError(KineticError):
    """Refuse to open a data dir that another daemon already holds."""


class ActorEscalatedError(KineticError):
    """Stop a kernel because an actor failed past its restart intensity or asked to escalate."""

    def __init__(self, message: str, *, actor: str) -> None:
        super().__init__(message)
        self.actor = actor


class ReplayDivergedError(KineticError):
    """Report the first output whose replayed hash differs from the recorded one."""


class KernelClosedError(KineticError):
    """Refuse work on a kernel that has stopped."""


class LedgerError(KineticError):
    """Refuse a ledger operation that would break an invariant; the ledger is left unchanged."""
