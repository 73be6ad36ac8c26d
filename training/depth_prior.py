"""A content-blind baseline: the per-pixel median ground-truth depth of the training frames.

A network that scores no better than this map has learnt the data set's average layout (road
below, sky above, walls at the sides), not depth from the image in front of it. The trainer scores
it on the validation frames exactly like the network, so the three numbers (untrained, prior,
trained) can be read side by side.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm


@runtime_checkable
class DepthSource(Protocol):
    """What the prior reads: a dataset that can give one sample's target depth."""

    def __len__(self) -> int: ...

    def ground_truth_depth(self, index: int) -> np.ndarray | None: ...


def median_depth_prior(dataset: object, max_frames: int = 500) -> np.ndarray | None:
    """H x W float32 metres: at each pixel the median of the valid (> 0) ground-truth depths of
    up to `max_frames` evenly spread training samples; pixels never valid take the median of all
    valid depths. None when no sample has ground truth (or the dataset cannot give it)."""
    if not isinstance(dataset, DepthSource) or len(dataset) == 0:
        return None
    count = min(len(dataset), max_frames)
    indices = np.linspace(0, len(dataset) - 1, count).round().astype(int)
    found = [dataset.ground_truth_depth(int(index))
             for index in tqdm(indices, desc="depth prior", leave=False, dynamic_ncols=True)]
    depths = [depth for depth in found if depth is not None]
    if not depths:
        return None
    stack = np.stack(depths).astype(np.float32)
    stack[~(stack > 0)] = np.nan  # 0 and NaN both mean unknown
    if np.isnan(stack).all():
        return None
    prior = np.nanmedian(stack, axis=0) if np.isfinite(stack).any(0).all() else _filled(stack)
    return prior.astype(np.float32)


def _filled(stack: np.ndarray) -> np.ndarray:
    """Per-pixel median where any frame has depth, the global median elsewhere."""
    known = np.isfinite(stack).any(0)
    prior = np.full(stack.shape[1:], np.nanmedian(stack), np.float32)
    prior[known] = np.nanmedian(stack[:, known], axis=0)
    return prior
