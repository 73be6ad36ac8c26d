"""A one-frame mailbox between the ROS subscription callback and the inference worker.

Why: a camera usually runs faster than a depth network. A queue would grow (latency and memory
without bound) or, with a fixed depth, hand the worker frames that are already stale. The slot
keeps only the newest frame: at most one frame waits while one is being processed, and every
frame that is overwritten before the worker took it is counted as dropped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ReceivedFrame(Generic[T]):
    """A message plus the monotonic time (seconds) at which the callback received it."""

    message: T
    received_at: float


class LatestFrameSlot(Generic[T]):
    """Thread-safe single-slot holder: `put` never blocks, `take` waits for a frame."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._frame: ReceivedFrame[T] | None = None
        self._closed = False
        self.dropped = 0  # frames overwritten before the worker took them

    def put(self, message: T) -> bool:
        """Store `message` as the newest frame; return True when it displaced an untaken one."""
        frame = ReceivedFrame(message, time.monotonic())
        with self._condition:
            displaced = self._frame is not None
            if displaced:
                self.dropped += 1
            self._frame = frame
            self._condition.notify()
        return displaced

    def take(self, timeout: float) -> ReceivedFrame[T] | None:
        """Remove and return the newest frame, waiting up to `timeout` seconds; None if none
        arrived in time or the slot was closed."""
        with self._condition:
            if self._frame is None and not self._closed:
                self._condition.wait(timeout)
            frame, self._frame = self._frame, None
            return None if self._closed else frame

    def close(self) -> None:
        """Wake a waiting `take` and make every later `take` return None (used at shutdown)."""
        with self._condition:
            self._closed = True
            self._frame = None
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
