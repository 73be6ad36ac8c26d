"""Supervised training end to end on generated rooms: the losses, the task, the trainer, the
checkpoint, the ONNX export (compared with PyTorch in ONNX Runtime), learning, and the
compare-supervised command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from depth_ros.contract import INPUT_NAME, OUTPUT_NAME
from training.__main__ import main as cli_main
from training.config import TrainConfig, load_config
from training.datasets import KINECT_NORMALIZED_K
from training.datasets.build import build_dataset
from training.device import setup_runtime
from training.evaluation.runner import evaluate_depth_model
from training.export import export_onnx
from training.model_contract import read_contract
from training.tasks.build import load_task
from training.tasks.supervised import MetricDepthModel, SupervisedTask, depth_errors
from training.trainer import Trainer

HEIGHT, WIDTH = 64, 96
ARCHITECTURES = ("unet", "fpn", "resnet_baseline", "multiscale")


def config(root: Path, out_dir: Path, architecture: str = "unet", *extra: str) -> TrainConfig:
    """A CPU-sized supervised run on the generated rooms (resnet18 encoders from scratch)."""
    return load_config(None, [
        f"model.architecture={architecture}", "model.weights_init=scratch", "model.num_layers=18",
        "model.fpn_backbone=resnet18", "model.max_depth=10.0", "data.dataset=rgbd_folder",
        f"data.root={root}", "data.train_split=splits/train_files.txt",
        "data.val_split=splits/val_files.txt", f"data.height={HEIGHT}", f"data.width={WIDTH}",
        "data.frame_offsets=[0]", "data.num_workers=0", "optim.batch_size=2",
        "optim.max_steps=2", "run.device=cpu", "run.log_every=1", "run.save_every=1000",
        "run.image_every=1", f"run.out_dir={out_dir}", *extra,
    ])


def test_depth_errors_use_known_pixels_only() -> None:
    pred = torch.tensor([1.0, 2.0, 5.0, 9.0]).view(1, 1, 2, 2)
    gt = torch.tensor([2.0, 2.0, 1.0, 0.0]).view(1, 1, 2, 2)  # last pixel unknown
    terms = depth_errors(pred, gt, beta=2.0)
    diffs = np.array([-1.0, 0.0, 4.0])
    assert float(terms["l1"]) == pytest.approx(np.abs(diffs).mean())
    assert float(terms["l2"]) == pytest.approx((diffs**2).mean())
    huber = [0.5 * 1.0 / 2.0, 0.0, 4.0 - 1.0]  # 0.5 x^2 / beta below beta, |x| - beta / 2 above
    assert float(terms["smooth_l1"]) == pytest.approx(np.mean(huber))
    assert float(terms["abs_rel"]) == pytest.approx(np.mean([0.5, 0.0, 4.0]))
    empty = depth_errors(pred.requires_grad_(), torch.zeros_like(gt), beta=2.0)
    assert float(empty["l1"].detach()) == 0.0
    empty["l1"].backward()  # still part of the graph, so DDP ranks stay in step
    with pytest.raises(ValueError, match="shapes differ"):
        depth_errors(pred, gt[..., :1], beta=2.0)


def test_task_computes_input_statistics_once_and_keeps_them(
    indoor_root: Path, tmp_path: Path
) -> None:
    cfg = config(indoor_root, tmp_path, "multiscale", "loss.supervised_loss=l1")
    task = SupervisedTask(cfg)
    assert len(cfg.data.input_mean) == 3 and all(0.05 < s < 0.5 for s in cfg.data.input_std)
    model = task.depth_model()
    assert isinstance(model, MetricDepthModel)
    torch.testing.assert_close(model.input_mean.flatten(), torch.tensor(cfg.data.input_mean))
    assert (task.units, task.metres_per_unit, task.architecture) == ("metric", 1.0, "multiscale")
    dataset = build_dataset(cfg.data, indoor_root / "splits" / "train_files.txt", train=True)
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    output = task(batch)
    assert torch.equal(output.loss.detach(), output.scalars["l1"])
    assert set(output.scalars) == {"l1", "l2", "smooth_l1", "abs_rel"}
    with torch.no_grad():
        depth = model(batch["frames"][:, 0])
    assert depth.shape == (2, 1, HEIGHT, WIDTH)
    assert float(depth.min()) >= 0.1 and float(depth.max()) <= 10.0
    assert all(float(v.min()) >= 0.0 and float(v.max()) <= 1.0 for v in output.images.values())
    # With the statistics in the config, building needs no data (export, resume, evaluation).
    cfg.data.root = str(tmp_path / "gone")
    rebuilt = SupervisedTask(cfg)
    torch.testing.assert_close(rebuilt.depth_model().input_std, model.input_std)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_model_trains_exports_and_onnx_matches_pytorch(
    architecture: str, indoor_root: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "run"
    cfg = config(indoor_root, out_dir, architecture)
    trainer = Trainer(cfg, setup_runtime(cfg.run))
    before = {k: v.clone() for k, v in trainer.task.state_dict().items()}
    result = trainer.fit()
    assert result.exit_code == 0 and result.summary["steps"] == 2
    assert np.isfinite(result.summary["final_losses"]["smooth_l1"])
    changed = [k for k, v in trainer.task.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any("network" in k for k in changed)

    loaded_cfg, task = load_task(out_dir / "last.pt")  # the input statistics come along
    assert loaded_cfg.data.input_mean == cfg.data.input_mean
    images = np.stack([
        build_dataset(cfg.data, indoor_root / "splits" / "test_files.txt", False)[i]["frames"][0]
        .numpy() for i in (0, 5)
    ])
    onnx_path = tmp_path / f"{architecture}.onnx"
    export = export_onnx(task, loaded_cfg, onnx_path, test_images=images,
                         intrinsics=KINECT_NORMALIZED_K)
    contract = read_contract(onnx_path)
    assert (contract.units, contract.metres_per_unit) == ("metric", 1.0)
    assert (contract.input_height, contract.input_width) == (HEIGHT, WIDTH)
    assert export.parity.passed

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_depth = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
    with torch.no_grad():
        torch_depth = task.depth_model()(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(onnx_depth, torch_depth, rtol=1e-4, atol=1e-4)
    assert onnx_depth.shape == (2, 1, HEIGHT, WIDTH)


@pytest.mark.slow
def test_unet_learns_held_out_depth(indoor_root: Path, tmp_path: Path) -> None:
    """Shorter version of the issue's check: held-out RMSE at most half the untrained one."""
    cfg = config(indoor_root, tmp_path / "run", "unet", "optim.max_steps=40",
                 "optim.batch_size=4", "optim.learning_rate=1e-3", "optim.epochs=100",
                 "run.image_every=1000", "run.log_every=10", "data.val_split=''")
    trainer = Trainer(cfg, setup_runtime(cfg.run))
    test_split = "splits/test_files.txt"  # the held-out room
    untrained = evaluate_depth_model(trainer.task, cfg, test_split).metrics["rmse"]
    assert trainer.fit().exit_code == 0
    trained = evaluate_depth_model(trainer.task, cfg, test_split).metrics["rmse"]
    print(f"held-out RMSE: untrained {untrained:.3f} m, trained {trained:.3f} m")
    assert trained <= 0.5 * untrained


@pytest.mark.slow
def test_compare_supervised_prints_the_table(
    indoor_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test_split = tmp_path / "test_files.txt"
    lines = (indoor_root / "splits" / "test_files.txt").read_text().splitlines()
    test_split.write_text("\n".join(lines[:3]) + "\n")
    code = cli_main([
        "compare-supervised", "--root", str(indoor_root), "--height", str(HEIGHT),
        "--width", str(WIDTH), "--small", "--steps", "1", "--batch-size", "2",
        "--test-split", str(test_split), "--out-dir", str(tmp_path / "runs"),
        "--set", "run.device=cpu",
    ])
    out = capsys.readouterr().out
    assert code == 0
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert [cell.strip() for cell in table[0].split("|")[1:-1]] == [
        "model", "params (M)", "trainable (M)", "steps", "train s",
        "L1", "L2", "smooth-L1", "AbsRel", "RMSE", "delta1", "RMSE untrained",
    ]
    rows = [line.split("|")[1].strip() for line in table[2:]]
    assert rows == ["unet-resnet18", "fpn-resnet18", "resnet_baseline-resnet18", "multiscale"]
    results = json.loads((tmp_path / "runs" / "comparison.json").read_text())
    assert [r["steps"] for r in results] == [1, 1, 1, 1]
    assert all(0 < r["metrics"]["rmse"] < 10 for r in results)
    assert all(r["trainable"] == r["parameters"] for r in results)  # --small trains encoders
