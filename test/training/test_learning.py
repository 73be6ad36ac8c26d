"""The quick configs learn depth: a short run on a generated drive beats the untrained network.

Shortened `config/train/synthetic.yaml` (stereo) and `synthetic_mono.yaml` (one camera with the
car's odometry) runs (same model, loss, resolution and optimiser; 60 steps) train on drive 1 of
the test dataset and are scored on every other frame of drive 2, which they never see, by
median-scaled AbsRel against the generator's exact depth. The trainer scores the untrained
network first, so both numbers come from the same code on the same frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.__main__ import main as training_main

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "config" / "train"
STEPS = 60  # 6 epochs of the 40-sample split at batch 4; the last at a tenth of the rate


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
@pytest.mark.parametrize(("config", "max_ratio"), [("synthetic.yaml", 0.75),
                                                   ("synthetic_mono.yaml", 0.9)])
def test_short_quick_config_run_beats_the_untrained_network(
    outdoor_root: Path, tmp_path: Path, config: str, max_ratio: float
) -> None:
    out = tmp_path / "run"
    held_out = tmp_path / "held_out.txt"
    lines = (outdoor_root / "splits" / "test_files.txt").read_text().splitlines()
    held_out.write_text("\n".join(lines[::2]) + "\n")
    sets = [
        f"data.root={outdoor_root}", "data.train_split=splits/train_files.txt",
        f"data.val_split={held_out}", "data.num_workers=0", "optim.epochs=6",
        "optim.scheduler_step=5", "run.device=cpu", "run.log_every=10",
    ]
    argv = ["train", "--config", str(CONFIGS / config), "--out-dir", str(out)]
    for item in sets:
        argv += ["--set", item]
    assert training_main(argv) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == STEPS
    untrained, trained = summary["val_initial"]["abs_rel"], summary["val_final"]["abs_rel"]
    assert trained < max_ratio * untrained, (untrained, trained)
    assert summary["val_final"]["a1"] > summary["val_initial"]["a1"]
