"""Command-line entry: `python -m training COMMAND [options]`.

    python -m training generate --kind outdoor --out data/synthetic_outdoor
    python -m training train --config config/train/synthetic.yaml
    torchrun --nproc_per_node 4 -m training train --config config/train/kitti_mono.yaml
    python -m training evaluate --checkpoint runs/x/last.pt --config config/train/kitti_mono.yaml
    python -m training fit-scale --checkpoint runs/x/last.pt --output runs/x/metric.pt
    python -m training export --checkpoint runs/x/last.pt --output model.onnx
    python -m training import-monodepth2 models/mono_640x192 --output mono_640x192.pt
    python -m training compare-supervised --root data/synthetic_indoor

Each command lives in its own module exposing `add_arguments(parser)` and `main(args) -> int`;
modules are imported only when their command runs, so `--help` stays fast. An unexpected error is
one `error:` line and exit 1; `--debug` (or DEPTH_ROS_DEBUG=1) shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from depth_ros.error_report import DEBUG_HELP, run_reporting_errors

COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("training.synthetic.cli", "write a synthetic sequence with ground truth"),
    "train": ("training.trainer", "train a depth network from a YAML config"),
    "evaluate": ("training.evaluate", "standard depth metrics on a split"),
    "fit-scale": ("training.fit_scale",
                  "metres per depth unit of a trained model from a recording's odometry"),
    "export": ("training.export", "export a checkpoint to ONNX with the model contract"),
    "import-monodepth2": ("training.import_monodepth2", "convert official Monodepth2 weights"),
    "compare-supervised": ("training.compare_supervised",
                           "train and compare the supervised NYUv2 models (Zheng, Sznaier Camps, "
                           "Guo)"),
}


def main(argv: list[str] | None = None) -> int:
    return run_reporting_errors(run_command, sys.argv[1:] if argv is None else argv)


def run_command(argv: list[str]) -> int:
    """Parse `argv` and run the chosen command (exceptions escape)."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(command_parser)
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
