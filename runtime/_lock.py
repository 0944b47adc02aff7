"""Hold a data dir for one daemon at a time, with an OS lock that dies with the process.

`flock` is released by the kernel when the holder exits, even by SIGKILL, so a crash never leaves
a stale lock behind; the pid written into the file only serves the error message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from runtime._errors import StoreLockedError


class DataDirLock:
    """Lock `DATA_DIR/kinetic.lock` exclusively for the life of a daemon."""

    def __init__(self, data_dir: Path, /) -> None:
        self.path = data_dir / "kinetic.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise `StoreLockedError` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"data dir `{self.path.parent}` is in use by another kinetic daemon (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Release the lock (also released by the OS when the process dies)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
