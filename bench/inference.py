"""One depth model in every form the project ships, side by side on the same frames.

    .venv/bin/python -m bench.inference                  # untrained Monodepth2 R18, 640 x 192
    .venv/bin/python -m bench.inference --checkpoint runs/synthetic/last.pt --frames 40
    .venv/bin/python -m bench.inference --width 416 --height 128 --threads 2 --json bench.json

Rows: PyTorch eager (fp32, threads by training/device.py's rule unless --threads), ONNX Runtime
fp32 / fp16 / int8 on the CPU, and, where they really start (a GPU and its libraries), PyTorch on
CUDA and ONNX Runtime's CUDA and TensorRT providers. The variants run interleaved, --repeats
rounds of every variant over the same frames, so that a change in load hits all alike.
Columns: milliseconds per frame (batch 1, median over rounds with min and max of the per-round
medians, 90th percentile of all frames), CPU milliseconds of this process per frame, speed
relative to PyTorch eager on the CPU (median of per-round ratios), and accuracy: AbsRel and the
median relative depth difference against PyTorch eager (the drift the export and the precision
cost), and the median-scaled AbsRel against the ground truth under the data's protocol (what it
means for the metric). Frames come from the checkpoint's validation split when its data are on
disk (int8 calibration from its training split), else from a generated street sequence at the
model size.
Weights do not change the speed; they do change the accuracy deltas, so pass a trained checkpoint
for meaningful deltas.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from depth_ros.contract import INPUT_NAME, OUTPUT_NAME
from training.config import ConfigError, TrainConfig
from training.datasets import DatasetError
from training.datasets.split_frames import load_split_images
from training.device import choose_cpu_threads
from training.evaluation.protocol import Scaling, protocol_for, resize_depth, score_image
from training.evaluation.samples import iter_samples
from training.export import export_onnx
from training.model_contract import contract_graph, model_contract
from training.quantize import convert_to_fp16, quantize_int8, relative_differences


@dataclass
class Row:
    variant: str  # what ran: "PyTorch eager fp32", "ORT fp16", ...
    provider: str  # where: CPU, CUDA, TensorRT
    ms_median: float
    ms_min: float  # fastest round's median
    ms_max: float  # slowest round's median
    ms_p90: float
    cpu_ms: float  # this process's CPU time per frame, median over rounds
    speedup: float  # PyTorch eager CPU ms / this ms, median over rounds
    abs_rel_vs_torch: float
    median_rel_diff_vs_torch: float
    abs_rel_vs_gt: float | None  # median-scaled, the data's protocol


def time_frames(run: Callable[[np.ndarray], np.ndarray],
                frames: np.ndarray) -> tuple[np.ndarray, list[float], float]:
    """Depth of every frame (N x h x w), the seconds each took and this process's CPU seconds
    per frame."""
    outputs, seconds = [], []
    cpu = time.process_time()
    for frame in frames:
        start = time.perf_counter()
        outputs.append(run(frame[None]))
        seconds.append(time.perf_counter() - start)
    cpu_per_frame = (time.process_time() - cpu) / len(frames)
    return np.concatenate(outputs)[:, 0], seconds, cpu_per_frame


def torch_runner(graph: torch.nn.Module, device: str) -> Callable[[np.ndarray], np.ndarray]:
    graph = graph.to(device)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            depth = graph(torch.from_numpy(batch).to(device))
            return depth.cpu().numpy()  # the copy back waits for the GPU

    return run


def ort_runner(path: Path, provider: str, threads: int, options: dict[str, str] | None = None,
               spinning: bool = False) -> Callable[[np.ndarray], np.ndarray] | None:
    """A session on `provider`, or None when the provider does not really start here; idle
    intra-op threads busy-wait only with `spinning` (off, as in the node by default)."""
    if provider not in ort.get_available_providers():
        return None
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = threads
    session_options.add_session_config_entry("session.intra_op.allow_spinning",
                                             "1" if spinning else "0")
    session_options.log_severity_level = 3  # provider fallbacks are reported by the table
    providers: list = [(provider, options or {})]
    if provider != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")
    try:  # a provider that cannot start prints a banner and falls back to the CPU: we check
        with contextlib.redirect_stdout(io.StringIO()):
            session = ort.InferenceSession(str(path), session_options, providers=providers)
    except Exception:  # missing CUDA/TensorRT libraries
        return None
    if session.get_providers()[0] != provider:
        return None

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]

    return run


def gt_abs_rel(
    depths: np.ndarray, gts: list[np.ndarray] | None, dataset: str
) -> float | None:
    """Mean over frames of the median-scaled AbsRel under the dataset's protocol."""
    if gts is None:
        return None
    protocol, median, values = protocol_for(dataset), Scaling("median"), []
    for depth, gt in zip(depths, gts, strict=True):
        score = score_image(resize_depth(depth, gt.shape), gt, protocol, median)
        if score is not None:
            values.append(score.metrics["abs_rel"])
    return float(np.mean(values)) if values else None


def load_frames(cfg: TrainConfig, count: int, calibration: int,
                work: Path) -> tuple[np.ndarray, np.ndarray, list[np.ndarray] | None, str]:
    """(frames, calibration frames, ground truth or None, where they came from)."""
    size = (cfg.data.width, cfg.data.height)
    try:
        frames, gts = _validation_frames(cfg, count, size)
        calib = load_split_images(cfg.data, cfg.data.train_split, calibration, size)
        return frames, calib, gts, f"{cfg.data.root} ({cfg.data.val_split})"
    except (ConfigError, DatasetError, FileNotFoundError):
        pass
    from training.synthetic.kitti import generate_outdoor

    root = work / "frames"
    generate_outdoor(root, sequences=2, frames=max(count, calibration) + 2, width=size[0],
                     height=size[1], seed=1)
    cfg.data.dataset, cfg.data.root = "kitti", str(root)
    cfg.data.val_split, cfg.data.train_split = "splits/test_files.txt", "splits/train_files.txt"
    frames, gts = _validation_frames(cfg, count, size)
    calib = load_split_images(cfg.data, cfg.data.train_split, calibration, size)
    return frames, calib, gts, "a generated street sequence"


def _validation_frames(
    cfg: TrainConfig, count: int, size: tuple[int, int]
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """The validation frames and their ground truth, decoded once (the evaluation samples are
    the frames load_split_images picks); frames only (gt None) where the split has no depth."""
    try:
        _, samples = iter_samples(cfg.data, cfg.data.val_split, size, max_images=count)
        loaded = list(samples)
    except (DatasetError, FileNotFoundError, ValueError):
        return load_split_images(cfg.data, cfg.data.val_split, count, size), None
    return np.stack([sample.image for sample in loaded]), [sample.gt for sample in loaded]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="trained checkpoint (default: untrained Monodepth2)")
    parser.add_argument("--width", type=int, help="input width (default 640; untrained only)")
    parser.add_argument("--height", type=int, help="input height (default 192; untrained only)")
    parser.add_argument("--frames", type=int, default=20, help="timed frames per variant")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--calibration", type=int, default=16, help="int8 calibration frames")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for PyTorch and ONNX Runtime (0: ONNX Runtime one per "
                             "core, PyTorch the training thread rule)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    torch_threads, torch_reason = choose_cpu_threads(args.threads, loader_workers=0)
    torch.set_num_threads(torch_threads)
    ort.set_default_logger_severity(4)  # unavailable providers are listed under the table

    if args.checkpoint:
        from training.tasks.build import load_task

        cfg, task = load_task(args.checkpoint)
        if args.width or args.height:
            print("--width/--height are ignored with --checkpoint (its own size is used)")
    else:
        from training.tasks.build import build_task

        cfg = TrainConfig()
        cfg.model.weights_init = "scratch"
        cfg.data.width, cfg.data.height = args.width or 640, args.height or 192
        torch.manual_seed(0)
        task = build_task(cfg)
    contract = model_contract(cfg)
    graph = contract_graph(task, contract)

    with tempfile.TemporaryDirectory(prefix="bench_inference_") as tmp:
        work = Path(tmp)
        frames, calibration, gts, source = load_frames(cfg, args.frames, args.calibration, work)
        fp32 = export_onnx(task, cfg, work / "fp32.onnx", test_images=frames[:2]).path
        fp16 = convert_to_fp16(fp32, work / "fp16.onnx")
        int8 = quantize_int8(fp32, work / "int8.onnx", calibration)
        variants: list[tuple[str, str, Callable[[np.ndarray], np.ndarray] | None]] = [
            ("PyTorch eager fp32", "CPU", torch_runner(graph, "cpu")),
            ("ORT fp32", "CPU", ort_runner(fp32, "CPUExecutionProvider", args.threads)),
            ("ORT fp16", "CPU", ort_runner(fp16, "CPUExecutionProvider", args.threads)),
            ("ORT int8", "CPU", ort_runner(int8, "CPUExecutionProvider", args.threads)),
        ]
        if torch.cuda.is_available():
            variants.append(("PyTorch eager fp32", "CUDA", torch_runner(graph, "cuda")))
        cuda = "CUDAExecutionProvider"
        trt = "TensorrtExecutionProvider"
        trt_cache = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(work)}
        variants += [
            ("ORT fp32", "CUDA", ort_runner(fp32, cuda, args.threads)),
            ("ORT fp16", "CUDA", ort_runner(fp16, cuda, args.threads)),
            ("ORT int8", "CUDA", ort_runner(int8, cuda, args.threads)),
            ("ORT fp32", "TensorRT", ort_runner(fp32, trt, args.threads, trt_cache)),
            ("ORT fp16 (TensorRT fp16)", "TensorRT",
             ort_runner(fp32, trt, args.threads, {**trt_cache, "trt_fp16_enable": "True"})),
            ("ORT int8 (QDQ)", "TensorRT",
             ort_runner(int8, trt, args.threads, {**trt_cache, "trt_int8_enable": "True"})),
        ]

        skipped = [f"{name} on {provider}" for name, provider, run in variants if run is None]
        ready = [(name, provider, run) for name, provider, run in variants if run is not None]
        for _, _, run in ready:
            for frame in frames[:args.warmup]:
                run(frame[None])
        round_ms: list[list[float]] = [[] for _ in ready]  # per variant, one median per round
        cpu_ms: list[list[float]] = [[] for _ in ready]
        frame_ms: list[list[float]] = [[] for _ in ready]
        depths: list[np.ndarray] = [frames] * len(ready)
        load_before = os.getloadavg()
        for _ in range(args.repeats):
            for index, (_, _, run) in enumerate(ready):
                depths[index], seconds, cpu = time_frames(run, frames)
                round_ms[index].append(1000.0 * float(np.median(seconds)))
                cpu_ms[index].append(1000.0 * cpu)
                frame_ms[index] += [1000.0 * s for s in seconds]
        load_after = os.getloadavg()
        rows: list[Row] = []
        for index, (name, provider, _) in enumerate(ready):
            drift = relative_differences(depths[0], depths[index])
            ms = np.asarray(round_ms[index])
            speedup = float(np.median(np.asarray(round_ms[0]) / ms))
            rows.append(Row(name, provider, float(np.median(ms)), float(ms.min()), float(ms.max()),
                            float(np.percentile(frame_ms[index], 90)),
                            float(np.median(cpu_ms[index])), speedup, drift.abs_rel,
                            drift.median_rel_diff,
                            gt_abs_rel(depths[index], gts, cfg.data.dataset)))

    print(f"model {contract.architecture} {contract.input_width}x{contract.input_height}"
          f"{' from ' + args.checkpoint if args.checkpoint else ' (untrained)'}; "
          f"{len(frames)} frames of {source}; batch 1; ORT threads {args.threads or 'per core'}, "
          f"torch threads {torch_threads} ({torch_reason}); torch {torch.__version__}, "
          f"onnxruntime {ort.__version__}")
    print(f"{args.repeats} interleaved rounds; load average before "
          f"{'/'.join(f'{v:.2f}' for v in load_before)}, after "
          f"{'/'.join(f'{v:.2f}' for v in load_after)}")
    print(format_rows(rows))
    if skipped:
        print(f"not available here: {', '.join(skipped)}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


def format_rows(rows: list[Row]) -> str:
    header = (f"{'variant':<26} {'provider':<9} {'ms/frame [min-max]':>26} {'p90 ms':>8} "
              f"{'CPU ms':>8} {'speed':>7} "
              f"{'AbsRel vs torch':>16} {'median rel diff':>16} {'AbsRel vs GT':>13}")
    lines = [header, "-" * len(header)]
    for r in rows:
        gt = f"{r.abs_rel_vs_gt:.4f}" if r.abs_rel_vs_gt is not None else "-"
        lines.append(
            f"{r.variant:<26} {r.provider:<9} "
            f"{f'{r.ms_median:.1f} [{r.ms_min:.1f}-{r.ms_max:.1f}]':>26} {r.ms_p90:8.1f} "
            f"{r.cpu_ms:8.1f} {r.speedup:6.2f}x {r.abs_rel_vs_torch:16.2e} "
            f"{r.median_rel_diff_vs_torch:16.2e} "
            f"{gt:>13}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
