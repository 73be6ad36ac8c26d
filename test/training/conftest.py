"""Fixtures for the training tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

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
