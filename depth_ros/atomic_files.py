"""Files written whole or not at all, and one clear error when a write fails.

Every file the project writes (checkpoints, ONNX models, depth PNG/NPY/PLY, JSON/CSV reports) goes
through `atomic_write`, or the helpers built on it (`write_bytes`, `write_text`, `write_png`,
`copy_file`): the bytes go to a temporary file `.<name>.tmp-<pid>` in the target's folder, are
flushed to disk, and only then renamed over the target. A crash, a full disk or a read-only folder
therefore leaves the previous file (or no file) in place, never a truncated one, and the failure
surfaces as a `FileWriteError` that names the file and the reason.

A killed writer leaves its temporary file behind; `remove_orphaned_temps` deletes those whose
process is gone. Torch-free, so the runtime and the training code share it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import cv2
import numpy as np

TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")

REASONS = {
    errno.ENOSPC: "no space left on the device (disk full)",
    errno.EDQUOT: "disk quota exceeded (disk full for this user)",
    errno.EFBIG: "file size limit reached (disk full for this process)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (read-only folder?)",
    errno.EPERM: "operation not permitted (read-only folder?)",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "a parent of the path is not a folder",
    errno.EISDIR: "the path is a folder",
}


class FileWriteError(OSError):
    """A file could not be written; the message names the file and why. Nothing partial is left
    where the file should be."""


def describe_os_error(error: BaseException) -> str:
    """Why a write failed, in words: the errno's meaning when there is one, else the message."""
    code = getattr(error, "errno", None)
    if code in REASONS:
        return REASONS[code]
    if code is not None:
        return getattr(error, "strerror", None) or os.strerror(code)
    text = str(error)
    for code, reason in REASONS.items():  # wrapped errors (torch's writer) keep only the text
        if os.strerror(code) in text:
            return reason
    return text.splitlines()[0] if text else type(error).__name__


def temp_path(path: Path) -> Path:
    """The temporary name `path` is written under by this process."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


class _CheckedWriter:
    """A binary file whose `write` writes everything or raises, and remembers the first OSError:
    torch's checkpoint writer reports a short write only as "unexpected pos", losing the reason."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                written = self.raw.write(view[done:])
                if not written:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += written
        except OSError as error:
            self.error = self.error or error
            raise
        return done

    def flush(self) -> None:
        self.raw.flush()

    def fileno(self) -> int:
        return self.raw.fileno()


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to `path` for writing (binary "wb" or UTF-8 text "w"); on a
    clean exit it is synced and renamed over `path`. A failed write removes it and raises
    FileWriteError (an OSError) naming `path` and the reason; other exceptions from the caller's
    own code pass through unchanged, after the same clean-up."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode {mode!r}; expected 'wb' or 'w'")
    path = Path(path)
    tmp = temp_path(path)
    checked: _CheckedWriter | None = None

    def failed(error: BaseException) -> FileWriteError:
        cause = checked.error if checked is not None and checked.error is not None else error
        return FileWriteError(f"cannot write {path}: {describe_os_error(cause)}")

    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if mode == "wb":
                raw: IO = open(tmp, "wb", buffering=0)  # noqa: SIM115 - closed below
                checked = _CheckedWriter(raw)
                handle: IO = checked  # type: ignore[assignment]
            else:
                raw = handle = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as error:
            raise failed(error) from error
        try:
            try:
                yield handle
            except OSError as error:
                raise failed(error) from error
            except Exception as error:
                if checked is not None and checked.error is not None:
                    raise failed(error) from error
                raise
            try:
                raw.flush()
                os.fsync(raw.fileno())
            except OSError as error:
                raise failed(error) from error
        finally:
            try:
                raw.close()
            except OSError as error:
                raise failed(error) from error
        try:
            os.replace(tmp, path)
        except OSError as error:
            raise failed(error) from error
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; return the path."""
    with atomic_write(path) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; return the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Encode `image` (uint8/uint16, 1 or 3 channels BGR) as PNG and write it atomically."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode {path} as PNG ({image.dtype} {image.shape})")
    return write_bytes(path, encoded.tobytes())


def copy_file(source: str | Path, path: str | Path) -> Path:
    """Copy `source` to `path` atomically (across file systems too); return the path."""
    with open(source, "rb") as src, atomic_write(path) as handle:
        shutil.copyfileobj(src, handle, 1 << 20)
    return Path(path)


def remove_orphaned_temps(folder: str | Path, target: str | None = None) -> list[Path]:
    """Delete the `.<name>.tmp-<pid>` files in `folder` whose writer no longer runs (killed
    mid-write), only those of file `target` when given. Returns what was removed."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = TEMP_PATTERN.match(entry.name)
        if not match or (target is not None and match["name"] != target):
            continue
        if not entry.is_file() or process_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _fsync_directory(folder: Path) -> None:
    """Make a rename durable (POSIX); harmless where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
