"""One line, non-zero exit: how the command-line tools report what went wrong.

A failure the code anticipated is printed by the tool itself; anything that escapes (a full or
read-only disk, a library error) is caught here and printed as one `error: ...` line on stderr,
with exit status 1 (130 for Ctrl-C). `--debug` on the command line, or DEPTH_ROS_DEBUG=1 in the
environment, lets the exception through with its full traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from depth_ros.atomic_files import FileWriteError, describe_os_error

DEBUG_FLAG = "--debug"
DEBUG_ENV = "DEPTH_ROS_DEBUG"
DEBUG_HELP = f"show the full traceback of an unexpected error (or set {DEBUG_ENV}=1)"
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def debug_requested(argv: Sequence[str]) -> bool:
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def one_line(error: BaseException) -> str:
    """The error as one line: the file and reason for OS errors, else type and first line."""
    if isinstance(error, FileWriteError):
        return str(error)
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename is not None else ""
        return f"{where}{describe_os_error(error)}"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def run_reporting_errors(main: Callable[[list[str]], int], argv: Sequence[str]) -> int:
    """`main(argv)`, with an escaping exception turned into one line on stderr and exit 1."""
    argv = list(argv)
    if debug_requested(argv):
        return main(argv)
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the point of this wrapper: no traceback for users
        print(f"error: {one_line(error)} (run with {DEBUG_FLAG} for the traceback)",
              file=sys.stderr)
        return EXIT_FAILED
