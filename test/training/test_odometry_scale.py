"""Metres per depth unit from odometry, on the generator's robot recording.

The exact depth of the recording, divided by a known factor, stands in for a network whose units
are that factor off metres: the fit must give the factor back, through the training objective's
own warps, with exact and with noisy odometry. Then a short training run with
model.scale_from_odometry, and `python -m training fit-scale` on a saved model, write the fitted
scale where the export and the evaluation read units.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.__main__ import main as training_main
from training.checkpoint import read_checkpoint, save_checkpoint
from training.config import (
    ConfigError,
    DataConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    load_config,
)
from training.datasets.build import build_dataset
from training.model_contract import depth_units, model_contract
from training.odometry_scale import ScaleFitError, fit_metres_per_unit
from training.synthetic.odometry import OdometryNoise
from training.synthetic.rosbag2 import TOPICS, generate_robot
from training.tasks.build import build_task
from training.tasks.monodepth2 import Monodepth2Task

FRAMES = 40
CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same drive with exact odometry and with the default noisy, gappy odometry."""
    root = tmp_path_factory.mktemp("robot_scale")
    generate_robot(root / "exact", frames=FRAMES, width=128, height=96, seed=3,
                   odometry_noise=OdometryNoise())
    generate_robot(root / "noisy", frames=FRAMES, width=128, height=96, seed=3)
    return {"exact": root / "exact" / "robot_0000", "noisy": root / "noisy" / "robot_0000"}


def robot_config(bag: Path, **data: object) -> TrainConfig:
    cfg = TrainConfig()
    cfg.data = DataConfig(**{"dataset": "rosbag2", "root": str(bag), "height": 96, "width": 128,
                             "augment": False, "frame_offsets": [0, -2, 2], "num_workers": 0,
                             "odometry": True, "depth_topic": TOPICS.depth, "train_split": "train",
                             **data})
    cfg.model.weights_init = "scratch"
    return cfg


def samples_and_task(bag: Path) -> tuple[list[dict[str, torch.Tensor]], Monodepth2Task]:
    cfg = robot_config(bag)
    dataset = build_dataset(cfg.data, "all", train=False)
    task = build_task(cfg)
    assert isinstance(task, Monodepth2Task)
    return [dataset[index] for index in range(len(dataset))], task


def depth_off_by(factor: float):
    """The recording's exact depth in units of `factor` metres."""
    def depth_of(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["depth_gt"].float() / factor
    return depth_of


@pytest.mark.parametrize("odometry", ["exact", "noisy"])
@pytest.mark.parametrize("factor", [0.2, 6.0])
def test_the_fit_finds_the_factor_the_depth_is_off_metres(bags: dict[str, Path], odometry: str,
                                                          factor: float) -> None:
    samples, task = samples_and_task(bags[odometry])
    fit = fit_metres_per_unit(task, samples, CPU, depth_off_by(factor))
    tolerance = 0.03 if odometry == "exact" else 0.08
    assert fit.metres_per_unit == pytest.approx(factor, rel=tolerance)
    assert fit.photometric < fit.photometric_as_is
    assert fit.photometric < 0.5 * fit.photometric_unwarped
    assert fit.per_batch_low <= fit.metres_per_unit * 1.01
    assert fit.per_batch_high >= fit.metres_per_unit * 0.99
    if odometry == "exact":  # every batch of frames agrees on the exact depth's scale
        assert fit.per_batch_high / fit.per_batch_low < 1.05
    with_gaps = sum(not bool(s["odom_valid"].all()) for s in samples)
    assert fit.frames == len(samples) - with_gaps
    if odometry == "noisy":
        assert with_gaps > 0  # the default odometry has gaps, and those frames are left out


def test_the_untrained_network_gets_a_scale_without_changing_its_weights(
    bags: dict[str, Path],
) -> None:
    samples, task = samples_and_task(bags["exact"])
    before = {k: v.clone() for k, v in task.state_dict().items()}
    task.train()
    fit = fit_metres_per_unit(task, samples[:16], CPU)
    assert np.isfinite(fit.metres_per_unit) and fit.metres_per_unit > 0
    assert task.training  # the fit runs in eval mode and gives the mode back
    after = task.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_frames_without_odometry_to_their_neighbours_are_refused(bags: dict[str, Path]) -> None:
    samples, task = samples_and_task(bags["exact"])
    for sample in samples:
        sample["odom_valid"] = torch.zeros_like(sample["odom_valid"])
    with pytest.raises(ScaleFitError, match=f"none of the {len(samples)} frames has odometry"):
        fit_metres_per_unit(task, samples, CPU, depth_off_by(1.0))


def test_a_scale_outside_the_scanned_range_is_refused_not_guessed(bags: dict[str, Path]) -> None:
    samples, task = samples_and_task(bags["exact"])
    with pytest.raises(ScaleFitError, match="barely better than not warped"):
        fit_metres_per_unit(task, samples[:12], CPU, depth_off_by(1e5))
    with pytest.raises(ScaleFitError, match="no minimum between"):
        fit_metres_per_unit(task, samples[:12], CPU, depth_off_by(1e-5))


def test_scale_from_odometry_needs_odometry() -> None:
    with pytest.raises(ConfigError, match=r"model\.scale_from_odometry"):
        load_config(None, ["data.frame_offsets=[0,-1,1]", "model.scale_from_odometry=true"])


def test_a_fitted_scale_makes_the_units_metric_in_the_contract() -> None:
    cfg = config_from_dict({"model": {"metres_per_unit": 4.5}})
    assert depth_units(cfg) == ("metric", 4.5)
    assert depth_units(TrainConfig()) == ("relative", 1.0)


@pytest.mark.slow
def test_training_writes_the_fitted_scale_into_checkpoint_config_and_summary(
    bags: dict[str, Path], tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    sets = [f"data.root={bags['noisy']}", "data.height=96", "data.width=128",
            "data.frame_offsets=[0,-2,2]", "model.scale_from_odometry=true",
            "loss.velocity_weight=0.05", "optim.max_steps=3", "optim.batch_size=2",
            "run.device=cpu", "run.log_every=1"]
    argv = ["train", "--config", str(Path(__file__).resolve().parents[2] / "config" / "train"
                                     / "rosbag2_mono.yaml"), "--out-dir", str(out)]
    for item in sets:
        argv += ["--set", item]
    argv += ["--set", "model.pose_source=network"]
    assert training_main(argv) == 0

    summary = json.loads((out / "summary.json").read_text())
    fitted = summary["odometry_scale"]["metres_per_unit"]
    assert fitted > 0 and fitted != 1.0
    cfg = config_from_dict(read_checkpoint(out / "last.pt", CPU)["config"])
    assert cfg.model.metres_per_unit == fitted
    assert load_config(out / "config.yaml").model.metres_per_unit == fitted
    contract = model_contract(cfg)
    assert (contract.units, contract.metres_per_unit) == ("metric", fitted)


def test_fit_scale_command_writes_a_metric_copy_and_leaves_the_checkpoint(
    bags: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = robot_config(bags["exact"])
    task = build_task(cfg)
    checkpoint = tmp_path / "relative.pt"
    save_checkpoint(checkpoint, {"config": config_to_dict(cfg), "model": task.state_dict()})
    original = checkpoint.read_bytes()
    output = tmp_path / "metric.pt"
    argv = ["fit-scale", "--checkpoint", str(checkpoint), "--frames", "16",
            "--set", f"data.root={bags['noisy']}", "--output", str(output)]
    assert training_main(argv) == 0
    printed = capsys.readouterr().out
    assert f"of {bags['noisy']}" in printed
    fitted = config_from_dict(read_checkpoint(output, CPU)["config"])
    assert fitted.data.root == str(bags["exact"])  # the model's own data section is kept
    assert f"1 depth unit = {fitted.model.metres_per_unit:.4g} m" in printed
    assert depth_units(fitted) == ("metric", fitted.model.metres_per_unit)
    assert checkpoint.read_bytes() == original

    assert training_main(["fit-scale", "--checkpoint", str(checkpoint),
                          "--set", "data.frame_offsets=[0]", "--set", "data.use_stereo=true"]) == 2
    assert "data.frame_offsets has none" in capsys.readouterr().err
