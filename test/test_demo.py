"""`make demo` reuses a finished run only when it was trained with the quick config as it is now."""

from __future__ import annotations

from pathlib import Path

from demo.__main__ import TRAIN_CONFIG, finished_with
from training.config import load_config, save_config


def write_run_config(run: Path, overrides: list[str]) -> None:
    """config.yaml as the trainer writes it for a run of the quick config."""
    run.mkdir(parents=True)
    cfg = load_config(TRAIN_CONFIG, [*overrides, f"run.out_dir={run}"])
    save_config(cfg, run / "config.yaml")


def test_a_run_of_the_current_quick_config_is_reused(tmp_path: Path) -> None:
    overrides = [f"data.root={tmp_path / 'data'}"]
    write_run_config(tmp_path / "run", overrides)
    assert finished_with(tmp_path / "run", overrides)


def test_a_run_of_an_older_quick_config_is_not_reused(tmp_path: Path) -> None:
    overrides = [f"data.root={tmp_path / 'data'}"]
    epochs = load_config(TRAIN_CONFIG).optim.epochs
    write_run_config(tmp_path / "run", [*overrides, f"optim.epochs={epochs + 1}"])
    assert not finished_with(tmp_path / "run", overrides)


def test_a_run_without_a_readable_config_is_not_reused(tmp_path: Path) -> None:
    overrides = [f"data.root={tmp_path / 'data'}"]
    assert not finished_with(tmp_path / "absent", overrides)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.yaml").write_text("model: [unclosed\n")
    assert not finished_with(tmp_path / "broken", overrides)
