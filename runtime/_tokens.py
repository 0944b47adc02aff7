"""Keep the control API's bearer tokens: hashed at rest, compared in constant time, with roles.

Tokens live in `DATA_DIR/tokens.json` (mode 0600) as sha256 digests with a name and a role; the
plaintext is shown once, when created. The first daemon start creates an admin token and writes
its plaintext to `DATA_DIR/control.token` (0600) so `kinetic ctl` on the same machine can use it.
The CLI (`kinetic ctl token create`) and the daemon share the file; writes replace it atomically.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Literal

import msgspec

from runtime._errors import KineticError

Role = Literal["viewer", "operator", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "approver", "admin")
TOKEN_PREFIX = "kin_"


class TokenEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A stored token: its digest, who it names and what it may do."""

    digest: str
    name: str
    role: Role
    created_ns: int


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a verified token belongs to."""

    name: str
    role: Role


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically with mode 0600 (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class TokenStore:
    """Create and verify tokens stored hashed in `DATA_DIR/tokens.json`."""

    def __init__(self, data_dir: Path, /, *, admin_file: str = "control.token") -> None:
        self.path = data_dir / "tokens.json"
        self.admin_file = data_dir / admin_file
        self._entries: list[TokenEntry] = []
        self._mtime = -1.0

    def _load(self) -> list[TokenEntry]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._entries, self._mtime = [], -1.0
            return self._entries
        if mtime != self._mtime:
            self._entries = msgspec.json.decode(self.path.read_bytes(), type=list[TokenEntry])
            self._mtime = mtime
        return self._entries

    def _save(self, entries: list[TokenEntry]) -> None:
        _write_private(self.path, msgspec.json.encode(entries).decode())
        self._mtime = -1.0

    def create(self, role: str, /, *, name: str) -> str:
        """Create a token for `name` with `role`; return its plaintext (shown once)."""
        if role not in ROLES:
            raise KineticError(f"`role` must be one of {', '.join(ROLES)}, got {role!r}")
        if not name:
            raise KineticError("`name` must not be empty")
        entries = list(self._load())
        if any(e.name == name for e in entries):
            raise KineticError(f"a token named `{name}` exists")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        entries.append(
            TokenEntry(digest=_digest(token), name=name, role=role, created_ns=time.time_ns())
        )
        self._save(entries)
        return token

    def ensure_admin(self) -> Path | None:
        """Create the first admin token and its file unless both exist; return a created file."""
        if self.admin_file.exists() and any(e.role == "admin" for e in self._load()):
            return None
        token = self.create("admin", name=f"admin-{secrets.token_hex(2)}")
        _write_private(self.admin_file, token + "\n")
        return self.admin_file

    def verify(self, token: str, /) -> Principal | None:
        """Return the principal of `token`, or None; compares digests in constant time."""
        digest = _digest(token)
        found: TokenEntry | None = None
        for entry in self._load():
            # Compare against every entry, always: the time taken does not depend on a match.
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        return Principal(name=found.name, role=found.role) if found is not None else None

    def list(self) -> list[tuple[str, Role]]:
        """Return (name, role) of every token."""
        return [(e.name, e.role) for e in self._load()]


def read_token_file(path: Path, /) -> str:
    """Read a token written by `ensure_admin` (or by hand); raise with the path when missing."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise KineticError(
            f"no token file at `{path}`; start the daemon once or pass --token"
        ) from None


__all__ = ["ROLES", "Principal", "Role", "TokenStore", "read_token_file"]
