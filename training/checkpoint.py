"""Checkpoint files: atomic writes, safe reads, fitting weights into a model, RNG states.

A checkpoint is a `torch.save`d dict of tensors and plain Python values only, so it loads with
`weights_only=True` (no code runs when a file is opened):

    format "depth_ros-checkpoint", version 1, config (config_to_dict), model (task state dict),
    optimizer, scheduler, scaler, step, epoch, batch_in_epoch, rng (per rank), summary.

Writes go through depth_ros.atomic_files: a temporary file in the same folder, fsynced, then
renamed over the target, so a crash or a full disk mid-save leaves the previous checkpoint intact
and a failed save is a FileWriteError naming the file and the reason.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from depth_ros.atomic_files import atomic_write

FORMAT = "depth_ros-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable or not ours; the message names the file."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write `state` (plus format/version tags) to `path` atomically; return the path.

    Raises FileWriteError (an OSError) naming the file when the disk is full or read-only."""
    path = Path(path)
    with atomic_write(path) as handle:
        torch.save({"format": FORMAT, "version": VERSION, **state}, handle)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with `weights_only=True`, checking that it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): an interrupted copy?")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused something, or not a pickle
        raise CheckpointError(
            f"checkpoint {path} cannot be read safely: it is not a torch file, or it holds "
            f"objects other than tensors and plain values, which are never loaded "
            f"({_first_line(exc)})"
        ) from exc
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"checkpoint {path} cannot be read (truncated or not a torch file): {_first_line(exc)}"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        seen = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a {FORMAT} file (format: {seen!r})")
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path} has version {state.get('version')!r}; expected {VERSION}"
        )
    return state


def _first_line(error: BaseException) -> str:
    """The gist of a library error in one line, without torch's advice to load with
    weights_only=False (which would run code from the file)."""
    text = str(error)
    if "Unpickler error:" in text:
        refused = " ".join(text.split("Unpickler error:", 1)[1].split())
        return refused.split(". ", 1)[0].split(" Check the documentation", 1)[0].rstrip(".")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if "weights_only" not in line and "loaded" not in line]
    return lines[0] if lines else type(error).__name__


def load_weights(
    module: nn.Module, weights: dict[str, torch.Tensor], source: str, may_lack: str | None = None
) -> list[str]:
    """Copy `weights` into `module`, requiring the same keys and shapes (message on mismatch).

    `may_lack` names a submodule prefix the weights may lack as a whole, which then keeps its
    fresh initialisation: a stereo model has no pose network, and a stereo-then-monocular
    curriculum starts the monocular run from it. Returns the keys left fresh.
    """
    own = module.state_dict()
    fresh: list[str] = []
    if may_lack is not None and not any(k.startswith(may_lack) for k in weights):
        fresh = [k for k in own if k.startswith(may_lack)]
    missing = sorted(set(own) - set(weights) - set(fresh))
    unexpected = sorted(set(weights) - set(own))
    wrong_shape = [
        f"{k}: checkpoint {tuple(weights[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(weights))
        if weights[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (under {_prefixes(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (under {_prefixes(unexpected)})")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} shape mismatches (e.g. {'; '.join(wrong_shape[:3])})")
    if problems:
        raise CheckpointError(
            f"weights from {source} do not fit the model: {'; '.join(problems)}. "
            "Check model.architecture, model.num_layers, model.scales and data.frame_offsets."
        )
    module.load_state_dict(weights, strict=not fresh)
    return fresh


def _prefixes(keys: list[str], depth: int = 3) -> str:
    """Where a set of state-dict keys lives, e.g. `pose_net.encoder.encoder, depth_net.decoder`."""
    return ", ".join(sorted({".".join(k.split(".")[:depth]) for k in keys}))


def capture_rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch CPU and CUDA random states, as checkpointable values."""
    version, mt_state, gauss = random.getstate()
    # numpy's stubs pick the dict overload for get_state(); the legacy MT19937 tuple is returned.
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = cast(
        "tuple[str, np.ndarray, int, int, float]", np.random.get_state()
    )
    state: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos),
                  int(np_has_gauss), float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of capture_rng_state."""
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np_keys = np_keys.numpy().astype(np.uint32)
    np.random.set_state((np_name, np_keys, np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)
