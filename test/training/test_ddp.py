"""Two training processes on the CPU under torchrun (Gloo) train one model.

The ranks are seeded differently (their initial weights differ) and read different halves of
the data, so they end with identical parameters only if DDP broadcast rank 0's weights and
averaged every gradient. With model.scale_from_odometry, rank 0 fits the scale and both ranks
must take its value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from training.run_lock import LOCK_NAME

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "config" / "train" / "synthetic.yaml")
MONOCULAR = str(REPO / "config" / "train" / "synthetic_mono.yaml")  # with the car's odometry

# The `train` command, plus a dump of each rank's parameters and epoch-0 samples after fit().
LAUNCHED = textwrap.dedent(
    """
    import argparse, os, sys
    import torch
    from training import trainer

    fit = trainer.Trainer.fit

    def fit_and_dump(self):
        result = fit(self)
        self.batches.set_epoch(0)
        samples = [index for batch in self.batches for index, _ in batch]
        params = {k: v.detach().cpu().clone() for k, v in self.task.named_parameters()}
        path = os.path.join(os.environ["DUMP_DIR"], f"rank{self.rt.rank}.pt")
        torch.save({"params": params, "samples": samples, "world": self.rt.world_size,
                    "metres_per_unit": self.cfg.model.metres_per_unit}, path)
        return result

    trainer.Trainer.fit = fit_and_dump
    parser = argparse.ArgumentParser()
    trainer.add_arguments(parser)
    sys.exit(trainer.main(parser.parse_args(sys.argv[1:])))
    """
)


def run_two_ranks(outdoor_root: Path, tmp_path: Path, config: str, *sets: str) -> Path:
    """torchrun 2 CPU processes of `train` on 8 training samples; return the run folder."""
    train_split = tmp_path / "train_small.txt"
    lines = (outdoor_root / "splits" / "train_files.txt").read_text().splitlines()
    train_split.write_text("\n".join(lines[:8]) + "\n")  # 4 samples per rank: 2 batches
    script = tmp_path / "launched.py"
    script.write_text(LAUNCHED)
    out = tmp_path / "run"
    sets = (
        f"data.root={outdoor_root}", f"data.train_split={train_split}", "data.val_split=\"\"",
        "data.height=64", "data.width=64", "data.num_workers=0", "optim.batch_size=2",
        "optim.epochs=2", "run.device=cpu", "run.log_every=1", "run.save_every=1", *sets,
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(script), "--config", config, "--out-dir", str(out)]
    for item in sets:
        command += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
           "DUMP_DIR": str(tmp_path)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


@pytest.mark.slow
def test_two_gloo_processes_stay_in_sync(outdoor_root: Path, tmp_path: Path) -> None:
    out = run_two_ranks(outdoor_root, tmp_path, SYNTHETIC)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert not set(ranks[0]["samples"]) & set(ranks[1]["samples"]), "ranks read the same data"
    assert len(ranks[0]["samples"]) == len(ranks[1]["samples"]) == 4
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][name]), f"{name} differs between ranks"

    # Rank 0 alone wrote the checkpoint and the summary; 2 epochs x 2 steps were trained.
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 4 and state["world_size"] == 2 and len(state["rng"]) == 2
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, state["model"][name])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 4
    # Rank 0 held the run lock for both ranks (a second holder would have stopped the run).
    assert not (out / LOCK_NAME).exists(), "the lock is released at the end"


@pytest.mark.slow
def test_rank_0_fits_the_odometry_scale_and_every_rank_takes_it(outdoor_root: Path,
                                                                tmp_path: Path) -> None:
    out = run_two_ranks(outdoor_root, tmp_path, MONOCULAR, "model.pose_source=network",
                        "loss.velocity_weight=0.05", "model.scale_from_odometry=true")
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    fitted = ranks[0]["metres_per_unit"]
    assert fitted > 0 and ranks[1]["metres_per_unit"] == fitted
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["config"]["model"]["metres_per_unit"] == fitted
    summary = json.loads((out / "summary.json").read_text())
    assert summary["odometry_scale"]["metres_per_unit"] == fitted
