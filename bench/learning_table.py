"""The learning table of finished training runs, read from their summary.json files.

    .venv/bin/python -m bench.learning_table runs/synthetic_mono runs/rosbag2_mono ...

One row per run: steps, wall time, held-out median-scaled AbsRel of the untrained network, of the
content-blind median-depth prior and of the trained network, the trained/untrained ratio, and for
metric runs (stereo or odometry) AbsRel in metres without median scaling and the median-scaling
ratio (1.0 = metric), and the metres per unit fitted from odometry where the run fitted them
(model.scale_from_odometry). Runs started with --init-from show the starting model as
"untrained".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.config import load_config
from training.model_contract import depth_units

HEADER = ("run", "steps", "wall", "untrained", "prior", "trained", "trained/untrained",
          "AbsRel in metres", "scale ratio", "m/unit fitted")


def table_row(run: Path) -> tuple[str, ...]:
    """One markdown row for the run folder `run` (its summary.json)."""
    summary = json.loads((run / "summary.json").read_text())
    start, prior, final = (summary.get(key) or {} for key in ("val_initial", "val_prior",
                                                              "val_final"))
    if "abs_rel" not in final:
        raise SystemExit(f"{run}/summary.json has no held-out depth scores (val_final.abs_rel)")
    metric = depth_units(load_config(run / "config.yaml"))[0] == "metric"
    fitted = (summary.get("odometry_scale") or {}).get("metres_per_unit")
    return (
        run.name,
        str(summary["steps"]),
        f"{summary['wall_time_s'] / 60:.1f} min",
        f"{start.get('abs_rel', float('nan')):.3f}",
        f"{prior.get('abs_rel', float('nan')):.3f}",
        f"{final['abs_rel']:.3f}",
        f"{final['abs_rel'] / start['abs_rel']:.2f}" if "abs_rel" in start else "-",
        f"{final['abs_rel_unscaled']:.3f}" if metric else "-",
        f"{final['scale_ratio']:.2f}" if metric else "-",
        f"{fitted:.3g}" if fitted else "-",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training run folders")
    args = parser.parse_args()
    rows = [HEADER, tuple("---" for _ in HEADER), *(table_row(run) for run in args.runs)]
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
