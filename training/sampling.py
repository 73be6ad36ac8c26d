"""Exact-resume sampling: the data order of an epoch and every sample's augmentation draws are
pure functions of (run.seed, epoch, rank, sample), so a resumed run repeats an uninterrupted one,
mid-epoch too, whichever loader worker loads a sample."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from training.device import Runtime, preserved_rng


class EpochBatches(Sampler[list[tuple[int, int]]]):
    """One rank's batches of one epoch, as (dataset index, sample seed) pairs.

    The order is DistributedSampler's (a permutation seeded with seed + epoch, dealt out by rank),
    so it depends only on (seed, epoch, rank). `start_batch` skips the batches a resumed run has
    already trained on.
    """

    def __init__(self, dataset: Dataset, batch_size: int, runtime: Runtime, seed: int) -> None:
        self.sampler: DistributedSampler[int] = DistributedSampler(
            dataset, num_replicas=runtime.world_size, rank=runtime.rank, shuffle=True, seed=seed
        )
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.start_batch = 0

    @property
    def num_batches(self) -> int:
        """Full batches in a whole epoch on this rank (a short last batch is dropped)."""
        return len(self.sampler) // self.batch_size

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.sampler.set_epoch(epoch)
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        return max(self.num_batches - self.start_batch, 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        indices = list(self.sampler)
        for b in range(self.start_batch, self.num_batches):
            chunk = indices[b * self.batch_size:(b + 1) * self.batch_size]
            yield [(i, sample_seed(self.seed, self.epoch, i)) for i in chunk]


class IndexedDataset(Protocol):
    """What SeededSamples wraps: torch's Dataset declares neither a length nor a sample type."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]: ...


class SeededSamples(Dataset):
    """Loads sample `index` with Python, NumPy and torch seeded from its own seed.

    Augmentation draws then depend on the sample alone, not on which worker loads it or on what
    was loaded before, which is what makes mid-epoch resumes exact. The caller's random states
    are restored afterwards.
    """

    def __init__(self, dataset: IndexedDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        with preserved_rng(torch.device("cpu")):
            random.seed(seed)
            np.random.seed(seed)
            torch.random.default_generator.manual_seed(seed)
            return self.dataset[index]


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for one sample in one epoch."""
    return int(np.random.SeedSequence([seed % 2**32, epoch, index]).generate_state(1)[0])
