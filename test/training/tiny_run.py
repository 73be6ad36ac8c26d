"""A tiny CPU training run of the quick config on the test drives (trainer and fault tests)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC = str(REPO / "config" / "train" / "synthetic.yaml")


def tiny_overrides(outdoor_root: Path, splits: tuple[Path, Path], *sets: str) -> list[str]:
    """`--set` items for a tiny CPU run of the quick config (64 x 64, batch 2, 4 epochs)."""
    train, val = splits
    return [
        f"data.root={outdoor_root}", f"data.train_split={train}", f"data.val_split={val}",
        "data.height=64", "data.width=64", "data.num_workers=0", "optim.batch_size=2",
        "optim.learning_rate=1e-4", "optim.epochs=4", "optim.scheduler_step=1",
        "optim.scheduler_gamma=0.5", "run.device=cpu", "run.log_every=2", "run.image_every=2",
        "run.save_every=1000", *sets,
    ]


def tiny_run(outdoor_root: Path, splits: tuple[Path, Path], out_dir: Path, *sets: str) -> list[str]:
    """Arguments of `python -m training train` for that tiny run, writing to out_dir."""
    argv = ["--config", SYNTHETIC, "--out-dir", str(out_dir)]
    for item in tiny_overrides(outdoor_root, splits, *sets):
        argv += ["--set", item]
    return argv
