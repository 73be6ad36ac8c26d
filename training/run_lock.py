"""One trainer per run folder: `<out_dir>/train.lock` names the process that holds it.

The lock is an exclusive `flock` on the file, which the kernel drops when its holder exits in any
way (kill -9 included), so a lock file whose flock is free is stale and is taken over. The file's
text (PID, host, start time) only serves the message a second trainer prints. In a DDP run rank 0
holds the lock for every rank. flock works on local disks and on NFSv4; on a shared disk without
it two hosts could both succeed.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import socket
from pathlib import Path
from types import TracebackType

from depth_ros.atomic_files import describe_os_error

LOCK_NAME = "train.lock"

log = logging.getLogger(__name__)


class RunLockError(RuntimeError):
    """The run folder is held by another trainer, or its lock file cannot be created."""


class RunLock:
    """Exclusive hold on a run folder for the life of this object (use it as a context manager).

    `stale_holder` is the holder text found in a lock file whose holder had died, else None.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self.stale_holder: str | None = None
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise RunLockError naming the holder (PID, host, since when)."""
        while self._fd is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise RunLockError(
                    f"cannot create the run lock {self.path}: {describe_os_error(error)}"
                ) from error
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise RunLockError(
                    f"run.out_dir {str(self.path.parent)!r} is in use by another trainer "
                    f"({holder}); wait for it to finish or stop it, or choose another --out-dir"
                ) from None
            if not _same_file(fd, self.path):  # the holder removed the file as we opened it
                os.close(fd)
                continue
            previous = _read_holder(fd, default="")
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(_this_holder()).encode() + b"\n", 0)
                os.fsync(fd)
            except OSError as error:
                os.close(fd)
                raise RunLockError(
                    f"cannot write the run lock {self.path}: {describe_os_error(error)}"
                ) from error
            self._fd = fd
            if previous:
                self.stale_holder = previous
                log.warning("took over the stale run lock %s left by %s, which no longer runs",
                            self.path, previous)
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (removing first: nobody can lock it meanwhile)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("could not remove the run lock %s: %s", self.path, describe_os_error(error))
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _this_holder() -> dict[str, object]:
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": started}


def _read_holder(fd: int, default: str = "holder unknown") -> str:
    """`PID 123 on host x since 2026-01-01T00:00:00Z`, from the lock file's text."""
    try:
        raw = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        info = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return default
    if not isinstance(info, dict):
        return default
    return (f"PID {info.get('pid', '?')} on host {info.get('host', '?')} "
            f"since {info.get('started', '?')}")


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False
