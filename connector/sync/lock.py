"""One sync run at a time per state store.

An advisory `flock` on a lock file: the kernel drops it when the holder dies, however it dies,
so a crashed run never blocks the next one. The file's content only names the holder for the
error message; it is never trusted for the decision.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from connector.errors import LockHeld, StateError
from connector.store.db import sqlite_file


class RunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(f"{self.path}: cannot open the run lock: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(
                f"another sync run holds {self.path} ({holder}); this run exits without "
                "touching anything"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {data['pid']} on {data['host']} since {data['since']}"
    except (ValueError, KeyError, OSError):
        return "holder unknown"


def uses_run_lock(state_url: str) -> bool:
    """Only a SQLite state has a run lock; workers on a server database share it otherwise."""
    return sqlite_file(state_url) is not None


def lock_path_for(state_url: str, configured: Path | None) -> Path:
    """The lock sits beside the SQLite file, so every run on the same state shares it.

    Keyed on the file's real identity: any SQLite URL form (`sqlite:///`, `sqlite+pysqlite:///`,
    relative or absolute) and any symlink to the same file give the same lock.
    """
    if configured is not None:
        return configured
    db = sqlite_file(state_url)
    if db is not None:
        real = db.resolve()
        return real.with_name(real.name + ".lock")
    return Path("seqsync.lock")
