"""The offline tool under faults: a read-only or full disk, bad arguments, a broken model.

Each case runs `python -m depth_ros.offline` as a user would and checks the exit status, the one
`error:` line and what is left on disk (see test/fault_injection.py for how faults are made).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_ros.atomic_files import (
    FileWriteError,
    atomic_write,
    remove_orphaned_temps,
    temp_path,
    write_bytes,
)
from depth_ros.error_report import run_reporting_errors
from harness.onnx_models import constant_depth_model
from test.fault_injection import files_in, one_error_line, read_only, run_tool

INFER = "depth_ros.offline"


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        cv2.imwrite(str(folder / f"{index + 1:04d}.png"),
                    rng.integers(0, 255, (64, 128, 3), dtype=np.uint8))
    return folder


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return constant_depth_model(tmp_path / "model.onnx", 2.5)


def test_read_only_output_folder_fails_naming_the_file(tmp_path: Path, frames: Path,
                                                       model: Path) -> None:
    with read_only(tmp_path / "out") as out:
        done = run_tool(INFER, [model, frames, "--out", out, "--npy"], honour_file_modes=True)
        assert done.returncode == 1, done.stderr
        line = one_error_line(done.stderr)
        assert str(out / "0001_depth.png") in line and "permission denied" in line
        assert files_in(out) == {}


def test_full_disk_fails_naming_the_file_and_leaves_no_partial_output(
    tmp_path: Path, frames: Path, model: Path
) -> None:
    """Each frame's 64 x 32 float32 .npy is 8 kB + header; a 4 kB limit makes it fail."""
    out = tmp_path / "out"
    done = run_tool(INFER, [model, frames, "--out", out, "--npy", "--no-png16", "--no-color"],
                    max_file_bytes=4096)
    assert done.returncode == 1, done.stderr
    line = one_error_line(done.stderr)
    assert str(out / "0001.npy") in line and "disk full" in line
    assert files_in(out) == {}, "no 0-byte or truncated .npy, no temporary file"
    assert "0 frame(s) were written" in line


def test_argument_ranges_are_checked_before_anything_is_written(
    tmp_path: Path, frames: Path, model: Path
) -> None:
    out = tmp_path / "out"
    for args, named in ((["--range-min", "50", "--range-max", "10"], "--range-max 10.0"),
                        (["--range-min", "nan"], "--range-min nan"),
                        (["--scale-factor", "0"], "--scale-factor 0.0"),
                        (["--camera-height", "inf"], "--camera-height inf")):
        done = run_tool(INFER, [model, frames, "--out", out, *args])
        assert done.returncode == 2, done.stderr
        assert named in one_error_line(done.stderr)
        assert not out.exists()


def test_a_model_giving_nan_depth_is_refused_before_writing(
    tmp_path: Path, frames: Path
) -> None:
    broken = constant_depth_model(tmp_path / "nan.onnx", float("nan"))
    out = tmp_path / "out"
    done = run_tool(INFER, [broken, frames, "--out", out])
    assert done.returncode == 2, done.stderr
    assert "NaN/Inf depth" in one_error_line(done.stderr) and str(broken) in done.stderr
    assert not out.exists()


def test_output_folder_that_is_a_file_is_one_line(tmp_path: Path, frames: Path,
                                                   model: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file where the output folder should be")
    done = run_tool(INFER, [model, frames, "--out", out])
    assert done.returncode == 1 and str(out) in one_error_line(done.stderr)


def test_unexpected_errors_are_one_line_unless_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(argv: list[str]) -> int:
        raise KeyError("the unexpected")

    assert run_reporting_errors(broken, ["x"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "KeyError" in line and "the unexpected" in line and "--debug" in line
    with pytest.raises(KeyError):
        run_reporting_errors(broken, ["x", "--debug"])
    monkeypatch.setenv("DEPTH_ROS_DEBUG", "1")
    with pytest.raises(KeyError):
        run_reporting_errors(broken, ["x"])


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = write_bytes(tmp_path / "a.bin", b"good")
    with pytest.raises(FileWriteError, match=r"a\.bin: no space left"), \
            atomic_write(target) as handle:
        handle.write(b"half")
        raise OSError(28, "No space left on device")
    assert target.read_bytes() == b"good" and files_in(tmp_path) == {"a.bin": 4}


def test_orphaned_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / ".last.pt.tmp-999999999"  # above any PID the kernel hands out
    dead.write_bytes(b"x" * 100)
    mine = temp_path(tmp_path / "other.pt")  # this process is alive
    mine.write_bytes(b"y")
    other = tmp_path / ".model.onnx.tmp-999999999"
    other.write_bytes(b"z")
    assert remove_orphaned_temps(tmp_path, "model.onnx") == [other]
    assert remove_orphaned_temps(tmp_path) == [dead]
    assert mine.exists()
