"""Real faults for the command-line tools: a full disk, a read-only folder, a killed process.

The tools run as subprocesses (`python -m ...`), so what is checked is what a user sees: the exit
status, the lines on stderr and the files left on disk.

- Full disk: a tiny tmpfs needs root, so the child gets RLIMIT_FSIZE instead. Any write past the
  limit then fails with EFBIG, exactly where a full disk fails with ENOSPC (SIGXFSZ is ignored, as
  no signal comes with a full disk). The limit covers every file the child writes.
- Read-only folder: `chmod a-w`. Root ignores file modes, so as root the child runs under
  `setpriv` without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH / CAP_FOWNER, which makes the modes
  bind again; without setpriv such tests are skipped with that reason.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DROP_FILE_CAPABILITIES = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def tool_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("DEPTH_ROS_DEBUG", None)
    return env


def file_size_limit(max_bytes: int) -> Callable[[], None]:
    """A preexec_fn: writes past `max_bytes` per file fail with EFBIG (a full disk)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


def run_tool(
    module: str,
    args: Sequence[str],
    *,
    max_file_bytes: int | None = None,
    honour_file_modes: bool = False,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`python -m module args` with the given faults; returns the finished process."""
    command = [sys.executable, "-m", module, *map(str, args)]
    if honour_file_modes and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes cannot make a folder "
                        "read-only for root")
        command = [*DROP_FILE_CAPABILITIES, *command]
    return subprocess.run(
        command, cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=timeout,
        preexec_fn=file_size_limit(max_file_bytes) if max_file_bytes else None,
    )


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` (created if needed) without write permission for anyone, restored afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    mode = folder.stat().st_mode
    folder.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield folder
    finally:
        folder.chmod(mode)


def one_error_line(stderr: str) -> str:
    """The single `error:` line of a failed run; fails the test on a traceback or several."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def files_in(folder: Path) -> dict[str, int]:
    """Name -> size of every file under `folder` (hidden ones too)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
