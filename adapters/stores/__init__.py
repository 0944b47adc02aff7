"""Persist runs, journal rows and snapshots: the backends of `runtime.Store`.

The backends are siblings with one shape: SQLite (the embedded default, standard library only)
and PostgreSQL (a server, for several daemons and long retention). Both keep the journal and
snapshots append-only with triggers, so a run stores the same rows and hashes on either.
"""

from adapters.stores.postgres import PostgresStore as PostgresStore
from adapters.stores.sqlite import SqliteStore as SqliteStore

__all__ = ["PostgresStore", "SqliteStore"]
