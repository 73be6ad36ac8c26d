"""Training samples per second that one DataLoader worker delivers, and what N workers deliver.

    python -m training.synthetic --kind outdoor --width 640 --height 192 --out /tmp/outdoor640
    .venv/bin/python -m bench.loader --root /tmp/outdoor640 [--samples 24] [--repeats 3]
    .venv/bin/python -m bench.loader --root /tmp/outdoor640 --workers 2 4 8 --batches 10

The KITTI layout at the model size of config/train/kitti_mono.yaml (640 x 192, frames 0, -1, +1,
augmentation on), four settings: PNG and JPEG (a JPEG copy of --root, quality 92, written once
next to it), stereo off and on (a fourth image per sample). "Per worker" is the dataset's own
__getitem__ in this process, the work one DataLoader worker does per sample: decode, resize,
flip, colour jitter, float conversion. The settings run interleaved (A B C D A B ...), --repeats
rounds of --samples samples each; each cell is the median samples/s over the rounds with min and
max, beside the CPU milliseconds per sample. `--workers` adds the DataLoader itself (batch 12,
collation, worker processes) with pinned memory where a GPU is present and persistent workers.
The load average is printed: on a busy machine the CPU time per sample is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from training.config import DataConfig, load_config
from training.datasets import find_split
from training.datasets.build import TrainingDataset, build_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
JPEG_QUALITY = 92


@dataclass
class Rates:
    samples_per_s: list[float] = field(default_factory=list)
    cpu_ms_per_sample: list[float] = field(default_factory=list)

    def summary(self) -> str:
        rate = np.asarray(self.samples_per_s)
        return (f"{np.median(rate):7.1f} [{rate.min():6.1f}-{rate.max():6.1f}]  "
                f"cpu {np.median(self.cpu_ms_per_sample):6.1f} ms")


def jpeg_copy(root: Path) -> Path:
    """`root` with every camera PNG re-encoded as JPEG (kept beside it, reused when present)."""
    target = root.with_name(root.name + "_jpg")
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(root, target, ignore=shutil.ignore_patterns("*.png"))
    for png in root.glob("*/*_sync/image_0[23]/data/*.png"):
        out = target / png.relative_to(root).with_suffix(".jpg")
        bgr = cv2.imread(str(png))
        if bgr is None:
            raise OSError(f"cannot read {png}")
        cv2.imwrite(str(out), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    (target / ".complete").touch()
    return target


def data_config(root: Path, ext: str, stereo: bool) -> DataConfig:
    cfg = load_config(REPO_ROOT / "config/train/kitti_mono.yaml", [
        f"data.root={root}", f"data.image_ext={ext}", f"data.use_stereo={str(stereo).lower()}",
        "data.train_split=splits/train_files.txt", "data.width=640", "data.height=192",
    ])  # fmt: skip
    return cfg.data


def time_samples(dataset: TrainingDataset, start: int, count: int, rates: Rates) -> None:
    """Samples start .. start + count - 1, each with the augmentation its index seeds (the
    same flips and jitters in every setting and run: jitter is most of a sample's cost)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(start, start + count):
        torch.manual_seed(i)
        dataset[i % len(dataset)]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rates.samples_per_s.append(count / wall)
    rates.cpu_ms_per_sample.append(1000.0 * cpu / count)


def time_loader(dataset: Dataset, workers: int, batches: int) -> float:
    """Samples/s of a DataLoader with `workers` processes, after its first batch."""
    loader = DataLoader(dataset, batch_size=12, shuffle=True, num_workers=workers,
                        pin_memory=torch.cuda.is_available(), persistent_workers=True,
                        prefetch_factor=4, drop_last=True)  # fmt: skip
    iterator = iter(loader)
    next(iterator)  # workers started and their first batches under way
    started, samples = time.perf_counter(), 0
    for _ in range(batches):
        samples += len(next(iterator)["index"])
    rate = samples / (time.perf_counter() - started)
    del iterator
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="generated KITTI layout (PNG)")
    parser.add_argument("--samples", type=int, default=24, help="samples per setting and round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--workers", type=int, nargs="*", default=[],
                        help="also time a DataLoader with these worker counts")
    parser.add_argument("--batches", type=int, default=10, help="batches per DataLoader timing")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a DataLoader worker

    roots = {".png": args.root, ".jpg": jpeg_copy(args.root)}
    settings = [(ext, stereo) for ext in roots for stereo in (False, True)]
    configs = {s: data_config(roots[s[0]], *s) for s in settings}
    datasets = {s: build_dataset(c, find_split(c.train_split, c.root, "data.train_split"), True)
                for s, c in configs.items()}  # fmt: skip
    frames = {s: len(datasets[s].cfg.frame_offsets) + int(s[1]) for s in settings}
    rates = {s: Rates() for s in settings}
    load_before = os.getloadavg()
    for s in settings:
        time_samples(datasets[s], 0, 2, Rates())  # warm-up: file cache, first allocations
    for round_index in range(args.repeats):
        for s in settings:
            time_samples(datasets[s], round_index * args.samples, args.samples, rates[s])
    loader_rates = {(s, w): time_loader(datasets[s], w, args.batches)
                    for w in args.workers for s in settings}  # fmt: skip
    load_after = os.getloadavg()

    print(f"KITTI layout 640x192 from {args.root}; {args.repeats} interleaved rounds of "
          f"{args.samples} samples; {os.cpu_count()} CPUs; cv2 {cv2.__version__}; load average "
          f"before {'/'.join(f'{v:.2f}' for v in load_before)}, "
          f"after {'/'.join(f'{v:.2f}' for v in load_after)}")
    header = f"{'format':<6} {'stereo':<6} {'images':>6}  {'one worker: samples/s [min-max]':<42}"
    header += "".join(f" {f'{w} workers':>10}" for w in args.workers)
    print(header + "   images/s (one worker, median)")
    for s in settings:
        ext, stereo = s
        line = f"{ext[1:]:<6} {'on' if stereo else 'off':<6} {frames[s]:>6}  "
        line += f"{rates[s].summary():<42}"
        line += "".join(f" {loader_rates[(s, w)]:10.1f}" for w in args.workers)
        median = float(np.median(rates[s].samples_per_s))
        print(line + f"   {median * frames[s]:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
