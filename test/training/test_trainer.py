"""The trainer on real generated data, on the CPU: exact resume, safe checkpoints, clean stops.

Runs are tiny (64 x 64, batch 2, a 4-sample split so epochs end every 2 steps) but go through
the real `train` command: the real Monodepth2 task, datasets with augmentation on, validation,
TensorBoard and checkpoint files.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from test.training.tiny_run import REPO, SYNTHETIC, tiny_overrides, tiny_run
from training import checkpoint, trainer
from training.__main__ import main as training_main
from training.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from training.config import TrainConfig, load_config
from training.device import setup_runtime
from training.tasks.build import build_task, load_task
from training.tasks.step import StepOutput

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def train(argv: list[str]) -> int:
    """`python -m training train ARGV`, in this process (so monkeypatches apply)."""
    return training_main(["train", *argv])


def weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model"]


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6, msg=name)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_resume_continues_exactly(outdoor_root: Path, splits: tuple[Path, Path],
                                  tmp_path: Path) -> None:
    """5 steps straight == 3 steps, stop, resume to 5: same weights, tensor by tensor.

    Epochs are 2 steps, so the cut falls mid-epoch (batch 1 of epoch 2) and both runs cross
    epoch ends (learning-rate decay, validation) before and after it. Augmentation and the
    auto-mask tie-break noise are on, so data order and every random stream must be restored.
    """
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    assert train(tiny_run(outdoor_root, splits, straight, "optim.max_steps=5")) == 0
    assert train(tiny_run(outdoor_root, splits, cut, "optim.max_steps=3")) == 0
    state = read_checkpoint(cut / "last.pt")
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (3, 1, 1)
    after_cut = state["model"]
    assert train([*tiny_run(outdoor_root, splits, cut, "optim.max_steps=5"), "--resume"]) == 0

    final = read_checkpoint(cut / "last.pt")
    assert final["step"] == 5 and read_checkpoint(straight / "last.pt")["step"] == 5
    assert_same_tensors(weights(straight / "last.pt"), final["model"])
    changed = [k for k in after_cut if not torch.equal(after_cut[k], final["model"][k])]
    assert changed, "the resumed steps did not change the weights"
    assert final["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-4 * 0.5**2)


def test_run_writes_checkpoint_summary_and_tensorboard(
    outdoor_root: Path, splits: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    assert train(tiny_run(outdoor_root, splits, out, "optim.epochs=1")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["epochs_completed"] == 1
    assert summary["checkpoint"] == str(out / "last.pt")
    for key in ("val_initial", "val_final"):
        assert summary[key]["abs_rel"] > 0 and summary[key]["photometric"] > 0
    assert {"loss", "photometric", "smoothness", "automask_fraction", "lr", "images_per_s"} <= set(
        summary["final_losses"])
    assert (out / "config.yaml").is_file()
    assert list((out / "tb").glob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert "AbsRel (untrained)" in printed and str(out / "last.pt") in printed

    # A new run refuses to overwrite it; the evaluation side can rebuild the trained task.
    assert train(tiny_run(outdoor_root, splits, out)) == trainer.EXIT_CONFIG
    assert "--resume" in capsys.readouterr().err
    cfg, task = load_task(out / "last.pt")
    assert cfg.data.width == 64 and not task.training
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        depth = task.depth_model()(image)
    assert depth.shape == (1, 1, 64, 64) and torch.isfinite(depth).all()


def test_crash_during_save_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"step": 1, "model": {"w": torch.ones(1000)}})
    before = digest(path)

    def crashing_save(obj: object, handle: object) -> None:
        handle.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", crashing_save)
    with pytest.raises(OSError, match=r"cannot write .*last\.pt: no space left"):
        save_checkpoint(path, {"step": 2, "model": {"w": torch.zeros(1000)}})
    monkeypatch.undo()

    assert digest(path) == before
    assert read_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "temporary file left behind"


def test_unreadable_or_foreign_checkpoints_are_named(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pt"
    save_checkpoint(truncated, {"model": {"w": torch.ones(1000)}})
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"truncated\.pt"):
        read_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a depth_ros-checkpoint"):
        read_checkpoint(foreign)
    with pytest.raises(CheckpointError, match=r"absent\.pt"):
        read_checkpoint(tmp_path / "absent.pt")


def test_non_finite_loss_stops_without_overwriting(
    outdoor_root: Path, splits: tuple[Path, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    assert train(tiny_run(outdoor_root, splits, out, "optim.max_steps=2")) == 0
    good = digest(out / "last.pt")
    real_build_task = trainer.build_task

    def poisoned_task(cfg: TrainConfig) -> torch.nn.Module:
        task = real_build_task(cfg)
        forward = task.forward

        def nan_forward(batch: dict[str, torch.Tensor]) -> StepOutput:
            output = forward(batch)
            output.loss = output.loss * float("nan")
            return output

        task.forward = nan_forward
        return task

    monkeypatch.setattr(trainer, "build_task", poisoned_task)
    argv = [*tiny_run(outdoor_root, splits, out, "optim.max_steps=6", "run.save_every=1"),
            "--resume"]
    assert train(argv) == trainer.EXIT_NON_FINITE
    message = capsys.readouterr().err
    assert "step 3" in message and "photometric=" in message and "nan" in message.lower()
    assert digest(out / "last.pt") == good
    assert read_checkpoint(out / "last.pt")["step"] == 2


@pytest.mark.slow
def test_init_from_loads_weights_and_starts_a_new_run(
    outdoor_root: Path, splits: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "source"
    assert train(tiny_run(outdoor_root, splits, source, "optim.max_steps=1")) == 0
    cfg = load_config(SYNTHETIC, [*tiny_overrides(outdoor_root, splits),
                                  f"run.out_dir={tmp_path / 'new'}"])
    fresh = trainer.Trainer(cfg, setup_runtime(cfg.run), init_from=source / "last.pt")
    assert fresh.step == 0 and not fresh.optimizer.state
    assert_same_tensors(fresh.task.state_dict(), weights(source / "last.pt"))

    # Weights of another architecture are refused with a message naming what differs.
    other = load_config(SYNTHETIC, ["data.frame_offsets=[0]", "data.use_stereo=true",
                                    "model.scales=[0]"])
    mismatched = tmp_path / "stereo.pt"
    save_checkpoint(mismatched, {"model": build_task(other).state_dict()})
    argv = [*tiny_run(outdoor_root, splits, tmp_path / "new2"), "--init-from", str(mismatched)]
    assert train(argv) == trainer.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "missing keys" in err and "disp_heads" in err and str(mismatched) in err

    bad_shape = weights(source / "last.pt")
    name = next(k for k in bad_shape if k.endswith("conv1.weight"))
    bad_shape[name] = torch.zeros(1, 1, 1, 1)
    reshaped = tmp_path / "reshaped.pt"
    save_checkpoint(reshaped, {"model": bad_shape})
    argv = [*tiny_run(outdoor_root, splits, tmp_path / "new3"), "--init-from", str(reshaped)]
    assert train(argv) == trainer.EXIT_CONFIG
    assert f"{name}: checkpoint (1, 1, 1, 1)" in capsys.readouterr().err


def test_stereo_weights_start_a_monocular_run_with_a_fresh_pose_network(
    outdoor_root: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    """The stereo-then-monocular curriculum: a stereo model has no pose network to copy."""
    stereo = load_config(SYNTHETIC, ["data.frame_offsets=[0]", "data.use_stereo=true"])
    torch.manual_seed(1)
    source = tmp_path / "stereo.pt"
    save_checkpoint(source, {"model": build_task(stereo).state_dict()})
    mono = load_config(SYNTHETIC, [*tiny_overrides(outdoor_root, splits), "data.use_stereo=false",
                                   "data.frame_offsets=[0,-1,1]",
                                   f"run.out_dir={tmp_path / 'mono'}"])
    started = trainer.Trainer(mono, setup_runtime(mono.run), init_from=source).task.state_dict()
    copied = weights(source)
    assert copied and not any(k.startswith("pose_net.") for k in copied)
    assert_same_tensors({k: started[k] for k in copied}, copied)
    assert any(k.startswith("pose_net.") for k in started)


@pytest.mark.slow
def test_sigterm_saves_a_resumable_checkpoint(
    outdoor_root: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    """A real training process gets SIGTERM mid-run, saves, exits 143 and resumes."""
    out = tmp_path / "run"
    argv = tiny_run(outdoor_root, splits, out, "optim.epochs=1000")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "training", "train", *argv]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list((out / "tb").glob("events.out.tfevents.*")):  # training has started
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM" in stderr and "--resume" in stderr
    stopped_at = read_checkpoint(out / "last.pt")["step"]
    assert stopped_at >= 1

    more = tiny_run(outdoor_root, splits, out, "optim.epochs=1000",
                     f"optim.max_steps={stopped_at + 2}")
    assert train([*more, "--resume"]) == 0
    assert read_checkpoint(out / "last.pt")["step"] == stopped_at + 2
