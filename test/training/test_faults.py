"""Training, export and evaluation under faults: nothing lost, one clear error.

Runs are the tiny CPU runs of test_trainer (64 x 64, batch 2, 2 steps an epoch) through the real
commands; faults are real (see test/fault_injection.py): a full disk through RLIMIT_FSIZE, a
read-only folder, a trainer killed with SIGKILL, weights blown up by a learning rate of 1e10.
"""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.onnx_models import constant_depth_model, make_contract
from test.fault_injection import REPO, files_in, one_error_line, read_only, run_tool, tool_env
from test.training.tiny_run import SYNTHETIC, tiny_run
from training import trainer
from training.__main__ import main as training_main
from training.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from training.export import ParityCheck
from training.run_lock import LOCK_NAME

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_args(outdoor_root: Path, splits: tuple[Path, Path], out_dir: Path, *sets: str) -> list[str]:
    """`train` arguments of a tiny CPU run writing to out_dir."""
    return ["train", *tiny_run(outdoor_root, splits, out_dir, *sets)]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def trained(outdoor_root: Path, splits: tuple[Path, Path], tmp_path: Path) -> Path:
    """A run folder holding a good last.pt after 2 steps (one epoch)."""
    out = tmp_path / "run"
    assert training_main(run_args(outdoor_root, splits, out, "optim.max_steps=2")) == 0
    return out


def test_diverging_step_is_never_saved_and_resume_applies_the_new_rate(
    outdoor_root: Path, splits: tuple[Path, Path], trained: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """lr 1e10 makes |w| ~ 1e10 in one Adam step: finite weights, NaN loss on the next forward.
    The check before the save refuses them, so last.pt stays the good one and still resumes."""
    good = digest(trained / "last.pt")
    capsys.readouterr()
    argv = run_args(outdoor_root, splits, trained, "optim.learning_rate=1e10",
                    "run.save_every=1", "optim.max_steps=6")
    assert training_main([*argv, "--resume"]) == trainer.EXIT_NON_FINITE
    line = one_error_line(capsys.readouterr().err)
    assert "after step 3" in line and "nan" in line and "not saved" in line
    assert f"last good checkpoint {trained / 'last.pt'} (step 2) is untouched" in line
    assert digest(trained / "last.pt") == good
    assert files_in(trained).keys() >= {"last.pt"} and LOCK_NAME not in files_in(trained)

    # A changed learning rate is applied on resume, decayed by the epochs already done (1).
    argv = run_args(outdoor_root, splits, trained, "optim.learning_rate=2e-4", "optim.max_steps=3")
    assert training_main([*argv, "--resume"]) == 0
    groups = read_checkpoint(trained / "last.pt")["optimizer"]["param_groups"]
    assert groups[0]["lr"] == pytest.approx(2e-4 * 0.5) and groups[0]["initial_lr"] == 2e-4


def test_a_run_diverging_before_its_first_save_writes_nothing(
    outdoor_root: Path, splits: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    argv = run_args(outdoor_root, splits, out, "optim.learning_rate=1e10", "run.save_every=1")
    assert training_main(argv) == trainer.EXIT_NON_FINITE
    assert f"no checkpoint was written to {out / 'last.pt'}" in capsys.readouterr().err
    assert not (out / "last.pt").exists()


def test_full_disk_during_a_save_keeps_the_last_checkpoint(
    outdoor_root: Path, splits: tuple[Path, Path], trained: Path
) -> None:
    good = digest(trained / "last.pt")
    limit = (trained / "last.pt").stat().st_size // 2
    argv = run_args(outdoor_root, splits, trained, "optim.max_steps=3")
    done = run_tool("training", [*argv, "--resume"], max_file_bytes=limit)
    assert done.returncode == trainer.EXIT_WRITE_FAILED, done.stderr
    line = one_error_line(done.stderr)
    assert f"cannot write {trained / 'last.pt'}: file size limit reached (disk full" in line
    assert digest(trained / "last.pt") == good
    assert not [name for name in files_in(trained) if ".tmp-" in name or name == LOCK_NAME]


def test_read_only_run_folder_is_one_line(
    outdoor_root: Path, splits: tuple[Path, Path], tmp_path: Path
) -> None:
    with read_only(tmp_path / "run") as out:
        done = run_tool("training", run_args(outdoor_root, splits, out), honour_file_modes=True)
    assert done.returncode == trainer.EXIT_CONFIG, done.stderr
    line = one_error_line(done.stderr)
    assert str(out / LOCK_NAME) in line and "permission denied" in line


def test_second_trainer_stops_and_a_killed_holders_lock_and_temp_files_are_cleared(
    outdoor_root: Path, splits: tuple[Path, Path], trained: Path,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    """Another process holds the run (as a trainer does) and is in the middle of a save; a
    second `train --resume` stops at once naming it. Then it is killed with SIGKILL: its lock
    file and a half-written temporary checkpoint stay behind, and the next start takes the stale
    lock over and removes the temporary file."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from training.run_lock import RunLock\n"
         "from depth_ros.atomic_files import atomic_write\n"
         f"lock = RunLock({str(trained)!r}).acquire()\n"
         f"with atomic_write({str(trained / 'last.pt')!r}) as handle:\n"
         "    handle.write(b'half a checkpoint')\n"
         "    print('saving', flush=True)\n"
         "    time.sleep(300)\n"],
        cwd=REPO, env=tool_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "saving\n"
        capsys.readouterr()
        argv = [*run_args(outdoor_root, splits, trained, "optim.max_steps=3"), "--resume"]
        assert training_main(argv) == trainer.EXIT_CONFIG
        line = one_error_line(capsys.readouterr().err)
        assert f"PID {holder.pid} on host {socket.gethostname()}" in line and "in use" in line
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    orphan = f".last.pt.tmp-{holder.pid}"
    assert {LOCK_NAME, orphan} <= set(files_in(trained))

    assert training_main(argv) == 0
    assert read_checkpoint(trained / "last.pt")["step"] == 3
    left = set(files_in(trained))
    assert orphan not in left and LOCK_NAME not in left
    assert any(f"PID {holder.pid}" in r.message and "stale" in r.message for r in caplog.records)


def test_export_refuses_broken_weights_and_never_replaces_a_good_model(
    trained: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.onnx"
    done = run_tool("training", ["export", "--checkpoint", trained / "last.pt", "--output", model])
    assert done.returncode == 0, done.stderr
    good = digest(model)

    state = read_checkpoint(trained / "last.pt")
    kept = {k: v for k, v in state.items() if k not in ("format", "version")}
    variance = next(k for k in state["model"] if k.endswith("bn1.running_var"))
    state["model"][variance] = -torch.ones_like(state["model"][variance])  # finite, NaN depth
    blown = save_checkpoint(tmp_path / "blown.pt", kept)
    state["model"][variance] = torch.full_like(state["model"][variance], float("nan"))
    nan = save_checkpoint(tmp_path / "nan.pt", kept)
    for checkpoint, reason in ((blown, "NaN/Inf at"), (nan, "weight tensors hold NaN/Inf")):
        done = run_tool("training", ["export", "--checkpoint", checkpoint, "--output", model])
        assert done.returncode == 1, done.stderr
        line = one_error_line(done.stderr)
        assert reason in line and "nothing was exported" in line
        assert digest(model) == good

    # A full disk while the model is written: the old file stays, one line, exit 1.
    done = run_tool("training", ["export", "--checkpoint", trained / "last.pt", "--output", model],
                    max_file_bytes=1 << 20)
    assert done.returncode == 1, done.stderr
    assert "disk full" in one_error_line(done.stderr) and digest(model) == good
    assert set(files_in(tmp_path)) >= {"model.onnx"} and not [
        n for n in files_in(tmp_path) if ".tmp-" in n]

    # Parity that NaN cannot pass.
    assert not ParityCheck(float("nan"), float("nan")).passed


def test_export_into_a_read_only_folder_is_one_line_and_debug_shows_why(
    trained: Path, tmp_path: Path
) -> None:
    with read_only(tmp_path / "models") as folder:
        args = ["export", "--checkpoint", trained / "last.pt", "--output", folder / "m.onnx"]
        done = run_tool("training", args, honour_file_modes=True)
        assert done.returncode == 1, done.stderr
        line = one_error_line(done.stderr)
        assert f"cannot write {folder / 'm.onnx'}: permission denied" in line
        loud = run_tool("training", [*args, "--debug"], honour_file_modes=True)
        assert loud.returncode == 1 and "Traceback" in loud.stderr
        assert files_in(folder) == {}


def test_evaluate_names_unusable_models_and_refuses_nan_depth(
    outdoor_root: Path, tmp_path: Path
) -> None:
    base = ["evaluate", "--config", SYNTHETIC, "--set", f"data.root={outdoor_root}",
            "--split", "splits/test_files.txt", "--max-images", "2"]
    truncated = tmp_path / "truncated.onnx"
    constant_depth_model(truncated, 2.0, make_contract(input_width=192, input_height=64))
    truncated.write_bytes(truncated.read_bytes()[:60])
    done = run_tool("training", [*base, "--onnx", truncated])
    assert done.returncode == 2, done.stderr
    assert str(truncated) in one_error_line(done.stderr)

    nan = constant_depth_model(tmp_path / "nan.onnx", float("nan"),
                               make_contract(input_width=192, input_height=64))
    report = tmp_path / "eval.json"
    done = run_tool("training", [*base, "--onnx", nan, "--json", report])
    assert done.returncode == 1, done.stderr
    assert "NaN/Inf" in one_error_line(done.stderr) and not report.exists()

    good = constant_depth_model(tmp_path / "good.onnx", 2.0,
                                make_contract(input_width=192, input_height=64))
    with read_only(tmp_path / "reports") as folder:
        done = run_tool("training", [*base, "--onnx", good, "--json", folder / "eval.json"],
                        honour_file_modes=True)
        assert done.returncode == 1, done.stderr
        line = one_error_line(done.stderr)
        assert f"cannot write {folder / 'eval.json'}: permission denied" in line
        assert files_in(folder) == {}


def test_unreadable_checkpoints_say_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt is empty \(0 bytes\)"):
        read_checkpoint(empty)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match=r"noise\.pt cannot be read") as caught:
        read_checkpoint(noise)
    assert "weights_only=False" not in str(caught.value)
