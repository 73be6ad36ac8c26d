"""The shipped training configs load, and bad configs fail naming the offending key.

Errors are checked both from `load_config` and through the `train` command, which must exit with
status 2 and print the key before touching any data or model.
"""

from __future__ import annotations

import argparse
import re
import typing
from pathlib import Path

import pytest

from training import trainer
from training.config import ConfigError, Dataset, TrainConfig, load_config
from training.datasets.build import DATASETS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "config" / "train").glob("*.yaml"))


def run_train_command(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    trainer.add_arguments(parser)
    return trainer.main(parser.parse_args(list(argv)))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_every_documented_config_is_shipped_and_valid() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"kitti_mono", "kitti_stereo", "kitti_mono_stereo", "nyu_mono", "synthetic"} <= names
    for path in CONFIGS:
        load_config(path)  # raises on any unknown key or bad value


def test_kitti_mono_holds_the_paper_defaults() -> None:
    cfg = load_config(REPO / "config/train/kitti_mono.yaml")
    assert (cfg.data.width, cfg.data.height) == (640, 192)
    assert cfg.data.frame_offsets == [0, -1, 1] and not cfg.data.use_stereo
    assert cfg.model.num_layers == 18 and cfg.model.weights_init == "pretrained"
    assert cfg.model.scales == [0, 1, 2, 3]
    assert cfg.optim.learning_rate == pytest.approx(1e-4)
    assert (cfg.optim.epochs, cfg.optim.scheduler_step) == (20, 15)
    assert cfg.optim.scheduler_gamma == pytest.approx(0.1)
    assert cfg.optim.batch_size == 12
    assert cfg.loss.automask and cfg.run.amp == "off"


def test_stereo_variants_and_nyu() -> None:
    stereo = load_config(REPO / "config/train/kitti_stereo.yaml")
    assert stereo.data.frame_offsets == [0] and stereo.data.use_stereo
    mono_stereo = load_config(REPO / "config/train/kitti_mono_stereo.yaml")
    assert mono_stereo.data.frame_offsets == [0, -1, 1] and mono_stereo.data.use_stereo
    nyu = load_config(REPO / "config/train/nyu_mono.yaml")
    assert nyu.data.dataset == "nyu" and not nyu.loss.automask
    assert "--init-from" in (REPO / "config/train/nyu_mono.yaml").read_text()


def test_synthetic_config_runs_on_the_cpu_without_downloads() -> None:
    cfg = load_config(REPO / "config/train/synthetic.yaml")
    assert cfg.model.weights_init == "scratch" and cfg.run.amp == "off"
    assert "python -m training generate --kind outdoor" in (
        REPO / "config/train/synthetic.yaml").read_text()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("optim:\n  learning_rat: 0.1\n", "optim.learning_rat"),  # unknown key
        ("trainer:\n  epochs: 3\n", "trainer"),  # unknown section
        ("optim:\n  batch_size: four\n", "optim.batch_size"),  # wrong type
        ("data:\n  frame_offsets: 0\n", "data.frame_offsets"),  # not a list
        ("loss:\n  automask: 1\n", "loss.automask"),  # int is not a bool
        ("data:\n  height: 100\n", "data.height"),  # not a multiple of 32
        ("run:\n  amp: fp8\n", "run.amp"),  # not a choice
        ("model:\n  weights_init: imagenet\n", "model.weights_init"),
        ("optim:\n  learning_rate: -1.0\n", "optim.learning_rate"),
        ("model:\n  scales: [1, 2, 3]\n", "model.scales"),  # no output scale 0
        ("model:\n  scales: [0, 1, 1]\n", "model.scales"),  # a scale twice
        ("model:\n  pose_source: gps\n", "model.pose_source"),  # not a choice
        ("data:\n  dataset: kitty\n", "data.dataset"),
        ("model:\n  architecture: unet2\n", "model.architecture"),
        ("loss:\n  supervised_loss: huber\n", "loss.supervised_loss"),
        ("loss:\n  velocity_weight: -0.1\n", "loss.velocity_weight"),
        ("loss:\n  velocity_huber_delta: 0.0\n", "loss.velocity_huber_delta"),
        ("loss:\n  velocity_weight: 0.05\n", "data.odometry"),  # odometry term, none loaded
        ("model:\n  pose_source: odometry\n", "data.odometry"),
        ("data:\n  odometry: true\n  use_stereo: true\nloss:\n  velocity_weight: 0.1\n",
         "data.use_stereo"),  # two scales
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path)
    assert run_train_command("--config", str(path)) == trainer.EXIT_CONFIG
    assert key in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "choices"),
    [
        ("run.amp=fp8", "off, bf16, fp16"),
        ("model.weights_init=imagenet", "pretrained, scratch"),
        ("model.pose_source=gps", "network, odometry, odometry_refined"),
    ],
)
def test_a_choice_key_lists_its_values_from_the_type(override: str, choices: str) -> None:
    with pytest.raises(ConfigError, match=f"expected one of {choices}$"):
        load_config(None, [override])


def test_an_unquoted_off_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match="quote it"):
        load_config(None, ["run.amp=off"])
    assert load_config(None, ['run.amp="off"']).run.amp == "off"


def test_every_dataset_choice_has_a_builder() -> None:
    assert set(DATASETS) == set(typing.get_args(Dataset))
    assert TrainConfig().data.dataset in DATASETS


def test_bad_override_names_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    synthetic = str(REPO / "config/train/synthetic.yaml")
    with pytest.raises(ConfigError, match=r"optim\.epochs"):
        load_config(synthetic, ["optim.epochs=ten"])
    status = run_train_command("--config", synthetic, "--set", "model.nope=1")
    assert status == trainer.EXIT_CONFIG
    assert "model.nope" in capsys.readouterr().err


def test_missing_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.yaml"
    assert run_train_command("--config", str(missing)) == trainer.EXIT_CONFIG
    assert str(missing) in capsys.readouterr().err


def test_broken_yaml_is_a_config_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "optim:\n  epochs: [3\n")
    assert run_train_command("--config", str(path)) == trainer.EXIT_CONFIG
    assert f"config file {path} is not valid YAML" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"override 'data\.frame_offsets=\[0, 1': .*not valid"):
        load_config(REPO / "config/train/synthetic.yaml", ["data.frame_offsets=[0, 1"])


def test_overrides_replace_file_values() -> None:
    cfg = load_config(REPO / "config/train/kitti_mono.yaml",
                      ["optim.batch_size=4", "data.frame_offsets=[0, 1]", "run.seed=7"])
    assert (cfg.optim.batch_size, cfg.data.frame_offsets, cfg.run.seed) == (4, [0, 1], 7)


def test_missing_split_file_is_named_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_train_command(
        "--config", str(REPO / "config/train/synthetic.yaml"), "--out-dir", str(tmp_path / "run"),
        "--set", f"data.root={tmp_path}", "--set", "data.train_split=nowhere.txt",
        "--set", "run.device=cpu",
    )
    assert status == trainer.EXIT_CONFIG
    assert "data.train_split" in capsys.readouterr().err


def test_amp_on_cpu_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_train_command(
        "--config", str(REPO / "config/train/synthetic.yaml"), "--out-dir", str(tmp_path),
        "--set", "run.device=cpu", "--set", "run.amp=bf16",
    )
    assert status == trainer.EXIT_CONFIG
    assert "run.amp" in capsys.readouterr().err


@pytest.mark.parametrize(("override", "expected"), [
    ("run.save_every=0", "run.save_every=0 is invalid; expected > 0"),
    ("run.log_every=0", "run.log_every=0 is invalid; expected > 0"),
    ("run.image_every=-1", "run.image_every=-1 is invalid; expected > 0"),
    ("data.num_workers=-1", "data.num_workers=-1 is invalid; expected >= 0"),
    ("optim.learning_rate=.inf", "optim.learning_rate=inf is invalid; expected a finite number"),
    ("optim.learning_rate=.nan", "optim.learning_rate=nan is invalid"),
    ("optim.max_steps=-5", "optim.max_steps=-5 is invalid; expected >= 0"),
    ("optim.scheduler_step=0", "optim.scheduler_step=0 is invalid; expected > 0"),
    ("optim.scheduler_gamma=0", "optim.scheduler_gamma=0.0 is invalid"),
    ("optim.weight_decay=-1e-4", "optim.weight_decay=-0.0001 is invalid"),
    ("model.max_depth=.inf", "model.max_depth=inf is invalid; expected a finite depth"),
    ("model.num_layers=20", "model.num_layers=20 is invalid; expected one of (18, 34, 50)"),
    ("model.dropout=1.0", "model.dropout=1.0 is invalid; expected within [0, 1)"),
    ("loss.smoothness_weight=-1", "loss.smoothness_weight=-1.0 is invalid"),
    ("loss.velocity_weight=.nan", "loss.velocity_weight=nan is invalid"),
    ("data.depth_scale=0", "data.depth_scale=0.0 is invalid"),
    ("run.seed=-1", "run.seed=-1 is invalid; expected >= 0"),
])
def test_numeric_ranges_are_checked_before_training(
    override: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each of these used to be accepted and crash later (ZeroDivisionError, a DataLoader error,
    NaN weights) or be silently ignored (a negative max_steps)."""
    synthetic = str(REPO / "config/train/synthetic.yaml")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(synthetic, [override])
    assert run_train_command("--config", synthetic, "--set", override) == trainer.EXIT_CONFIG
    assert expected in capsys.readouterr().err


def test_an_empty_override_is_an_empty_string() -> None:
    cfg = load_config(REPO / "config/train/synthetic.yaml",
                      ["data.val_split=", "data.intrinsics_file= "])
    assert cfg.data.val_split == "" and cfg.data.intrinsics_file == ""
