"""Fixtures for the training tests, which need torch; a robot without it skips them all.

`colcon test` on a robot runs every test of the package; torch is a workstation dependency
(training/), not a runtime one, so its absence skips this folder with the reason instead of
failing at collection.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip(
    "torch", reason="torch is not installed: the training tests need it, the ROS node does not"
)

TORCH_THREADS = 2  # the tests share a 2-core machine; more threads only spin against each other


@pytest.fixture(scope="session", autouse=True)
def two_torch_threads() -> Iterator[None]:
    """Every training test on TORCH_THREADS torch threads, set once here rather than as a side
    effect of whichever test module happens to be imported first."""
    previous = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run a test on one torch thread: on a shared 2-core machine, OpenMP threads spinning
    against the other test processes make a training step several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def splits(outdoor_root: Path, tmp_path: Path) -> tuple[Path, Path]:
    """4 training samples (2 batches of 2 per epoch) and 2 held-out samples with depth."""
    train = tmp_path / "train_small.txt"
    lines = (outdoor_root / "splits" / "train_files.txt").read_text().splitlines()
    train.write_text("\n".join(lines[:4]) + "\n")
    val = tmp_path / "val_small.txt"
    lines = (outdoor_root / "splits" / "test_files.txt").read_text().splitlines()
    val.write_text("\n".join(lines[:2]) + "\n")
    return train, val
