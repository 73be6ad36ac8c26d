"""Fixtures shared by every test area: small generated datasets with exact ground truth.

Each is generated once per test session (a few seconds) by training/synthetic/, with
fixed seeds, so tests see the same bytes on every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def outdoor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """KITTI raw layout: 2 drives x 24 frames at 192 x 64, stereo, velodyne, depth_gt, splits.

    Splits under `splits/`: train (drive 1, sides l and r), val (drive 1's last frames, l) and
    test (all of drive 2, l). Folders are `2000_01_01/2000_01_01_drive_000N_sync`.
    """
    from training.synthetic.kitti import generate_outdoor

    root = tmp_path_factory.mktemp("synthetic_outdoor")
    generate_outdoor(root, sequences=2, frames=24, width=192, height=64, seed=0)
    return root


@pytest.fixture(scope="session")
def indoor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NYU layout: 2 rooms x 24 frames at 128 x 96 (jpg + uint16 millimetre png), splits.

    Scenes are `synthetic_room_0000` and `synthetic_room_0001`; test = all of the second.
    """
    from training.synthetic.nyu import generate_indoor

    root = tmp_path_factory.mktemp("synthetic_indoor")
    generate_indoor(root, sequences=2, frames=24, width=128, height=96, seed=0)
    return root
