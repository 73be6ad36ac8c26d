"""CPU inference choices measured interleaved: int8 vs fp32, ORT spinning on vs off, eager torch.

    .venv/bin/python -m bench.cpu_variants                      # untrained Monodepth2, 640 x 192
    .venv/bin/python -m bench.cpu_variants --checkpoint runs/kitti_mono/last.pt --repeats 5

One exported model, every variant fed the same frames in rounds (A B C D A B C D ...), so a change
in the machine's load hits every variant alike: `--repeats` rounds of `--frames` frames, batch 1,
`--threads` intra-op threads (default 1: one core per model, the fair per-core comparison). Each
cell is the median milliseconds per frame over the rounds with min and max, beside the CPU
milliseconds this process used per frame (CPU above wall: threads that spin or wait).

Variants: ONNX Runtime fp32 and int8 (QDQ, training/quantize.py, calibrated on the training split)
with spinning off (the node's default); fp32 on `--spin-threads` threads with spinning off and
on; PyTorch eager with the thread rule of training/device.py. Accuracy on the frames timed (the
checkpoint's validation split where its data are on disk, else a generated street sequence the
model never saw): median-scaled AbsRel against ground truth for fp32 and int8, and int8's AbsRel
against fp32.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from bench.inference import gt_abs_rel, load_frames, ort_runner, time_frames, torch_runner
from training.config import TrainConfig
from training.device import choose_cpu_threads
from training.export import export_onnx
from training.model_contract import contract_graph, model_contract
from training.quantize import quantize_int8, relative_differences

CPU = "CPUExecutionProvider"


@dataclass
class Timings:
    ms_per_frame: list[float] = field(default_factory=list)  # one per round
    cpu_ms_per_frame: list[float] = field(default_factory=list)
    depths: np.ndarray | None = None  # the last round's outputs, N x h x w

    def summary(self) -> str:
        ms = np.asarray(self.ms_per_frame)
        return (f"{np.median(ms):8.1f} [{ms.min():7.1f}-{ms.max():7.1f}] "
                f"{np.median(self.cpu_ms_per_frame):8.1f}")


def time_round(run: Callable[[np.ndarray], np.ndarray], frames: np.ndarray,
               timings: Timings) -> None:
    timings.depths, seconds, cpu_s = time_frames(run, frames)
    timings.ms_per_frame.append(1000.0 * float(np.mean(seconds)))
    timings.cpu_ms_per_frame.append(1000.0 * cpu_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="trained checkpoint (default: untrained Monodepth2)")
    parser.add_argument("--width", type=int, default=640, help="untrained model input width")
    parser.add_argument("--height", type=int, default=192, help="untrained model input height")
    parser.add_argument("--frames", type=int, default=8, help="frames per variant and round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads")
    parser.add_argument("--spin-threads", type=int, default=0,
                        help="ORT threads of the spinning pair (0: one per core, the node's "
                             "default; spinning needs more than one thread to matter)")
    parser.add_argument("--calibration", type=int, default=16, help="int8 calibration frames")
    args = parser.parse_args(argv)

    if args.checkpoint:
        from training.tasks.build import load_task

        cfg, task = load_task(args.checkpoint)
    else:
        from training.tasks.build import build_task

        cfg = TrainConfig()
        cfg.model.weights_init = "scratch"
        cfg.data.width, cfg.data.height = args.width, args.height
        torch.manual_seed(0)
        task = build_task(cfg)
    contract = model_contract(cfg)
    eager_threads, eager_reason = choose_cpu_threads(0, loader_workers=0)
    spin_label = f"{args.spin_threads or os.cpu_count()} thr"

    with tempfile.TemporaryDirectory(prefix="bench_cpu_variants_") as tmp:
        work = Path(tmp)
        frames, calibration, gts, source = load_frames(cfg, args.frames, args.calibration, work)
        fp32 = export_onnx(task, cfg, work / "fp32.onnx", test_images=frames[:2]).path
        int8 = quantize_int8(fp32, work / "int8.onnx", calibration)
        graph = contract_graph(task, contract).eval()
        eager = torch_runner(graph, "cpu")

        def eager_with_rule(batch: np.ndarray) -> np.ndarray:
            torch.set_num_threads(eager_threads)
            return eager(batch)

        variants: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {
            "ORT fp32": ort_runner(fp32, CPU, args.threads),
            "ORT int8 (QDQ)": ort_runner(int8, CPU, args.threads),
            f"ORT fp32, {spin_label}, spin off": ort_runner(fp32, CPU, args.spin_threads),
            f"ORT fp32, {spin_label}, spin on": ort_runner(fp32, CPU, args.spin_threads,
                                                          spinning=True),
            f"PyTorch eager, {eager_threads} threads": eager_with_rule,
        }
        timings = {name: Timings() for name in variants}
        load_before = os.getloadavg()
        for name, run in variants.items():  # warm-up
            assert run is not None, f"{name}: the CPU provider did not start"
            run(frames[0][None])
        for _ in range(args.repeats):
            for name, run in variants.items():
                assert run is not None
                time_round(run, frames, timings[name])
        load_after = os.getloadavg()

    print(f"model {contract.architecture} {contract.input_width}x{contract.input_height}"
          f"{' from ' + args.checkpoint if args.checkpoint else ' (untrained)'}; "
          f"{len(frames)} frames of {source}; batch 1; ORT {args.threads} intra-op threads; "
          f"eager: {eager_reason}; onnxruntime {ort.__version__}, torch {torch.__version__}")
    print(f"{args.repeats} interleaved rounds; load average before "
          f"{'/'.join(f'{v:.2f}' for v in load_before)}, after "
          f"{'/'.join(f'{v:.2f}' for v in load_after)}")
    print(f"{'variant':<30} {'ms/frame [min-max]':>27} {'CPU ms':>8} {'AbsRel vs GT':>13}")
    for name, t in timings.items():
        gt = gt_abs_rel(t.depths, gts, cfg.data.dataset) if t.depths is not None else None
        print(f"{name:<30} {t.summary()} {f'{gt:.4f}' if gt is not None else '-':>13}")
    base, quant = timings["ORT fp32"], timings["ORT int8 (QDQ)"]
    still = timings[f"ORT fp32, {spin_label}, spin off"]
    spin = timings[f"ORT fp32, {spin_label}, spin on"]
    print(f"int8 / fp32 speed: {ratio(base.ms_per_frame, quant.ms_per_frame):.2f}x (median of "
          f"per-round ratios, range {ratio_range(base.ms_per_frame, quant.ms_per_frame)}); CPU "
          f"time {ratio(base.cpu_ms_per_frame, quant.cpu_ms_per_frame):.2f}x less")
    print(f"spinning on vs off: wall {ratio(still.ms_per_frame, spin.ms_per_frame):.2f}x faster, "
          f"CPU per frame x{ratio(spin.cpu_ms_per_frame, still.cpu_ms_per_frame):.2f}")
    assert base.depths is not None and quant.depths is not None
    drift = relative_differences(base.depths, quant.depths)
    gt32 = gt_abs_rel(base.depths, gts, cfg.data.dataset)
    gt8 = gt_abs_rel(quant.depths, gts, cfg.data.dataset)
    delta = f"{gt8 - gt32:+.4f}" if gt32 is not None and gt8 is not None else "-"
    print(f"int8 vs fp32: AbsRel {drift.abs_rel:.4f}, median rel diff {drift.median_rel_diff:.4f}; "
          f"AbsRel vs GT delta {delta}")
    return 0


def ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator / denominator (both measured in the same round)."""
    return float(np.median(np.asarray(numerator) / np.asarray(denominator)))


def ratio_range(numerator: list[float], denominator: list[float]) -> str:
    values = np.asarray(numerator) / np.asarray(denominator)
    return f"{values.min():.2f}-{values.max():.2f}"


if __name__ == "__main__":
    sys.exit(main())
