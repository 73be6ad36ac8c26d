"""ONNX Runtime execution providers: their names, short aliases, and a quiet start-up probe.

Wherever providers are named (node parameter `providers`, `depth_infer --providers`, the
benches) the aliases `tensorrt`, `cuda` and `cpu` stand for TensorrtExecutionProvider,
CUDAExecutionProvider and CPUExecutionProvider; other full names (OpenVINOExecutionProvider, ...)
are passed through.

onnxruntime-gpu asked for CUDA or TensorRT on a machine without their libraries prints red load
errors and falls back to the CPU. `startable_providers` asks only for what can start here: a GPU
provider needs the CUDA driver (libcuda.so.1) and its own provider library with every library it
links (cuBLAS, cuDNN, TensorRT's libnvinfer) loadable. One log line says what is tried and why
the rest is skipped.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
ALIASES = {"tensorrt": TENSORRT, "cuda": CUDA, "cpu": CPU}
DEFAULT_PROVIDERS = ("tensorrt", "cuda", "cpu")  # fastest first; CPU always starts
PROVIDER_SUFFIX = "ExecutionProvider"
_PROVIDER_LIBRARIES = {
    TENSORRT: "libonnxruntime_providers_tensorrt.so",
    CUDA: "libonnxruntime_providers_cuda.so",
}

log = logging.getLogger(__name__)


class ProviderError(ValueError):
    """A provider name that is neither an alias nor an ONNX Runtime provider name."""


def provider_name(name: str) -> str:
    """The ONNX Runtime name of `name` (an alias, in any case, or a full provider name)."""
    if not isinstance(name, str):
        raise ProviderError(f"execution provider {name!r} is not a string")
    full = ALIASES.get(name.strip().lower(), name.strip())
    if not full.endswith(PROVIDER_SUFFIX):
        raise ProviderError(
            f"execution provider {name!r} unknown; expected one of {sorted(ALIASES)} or an ONNX "
            f"Runtime name ending in {PROVIDER_SUFFIX!r}"
        )
    return full


def provider_names(names: Sequence[str] | None = None) -> list[str]:
    """Full names of `names` (default DEFAULT_PROVIDERS), in order, without repeats."""
    wanted = DEFAULT_PROVIDERS if names is None else names
    return list(dict.fromkeys(provider_name(name) for name in wanted))


def _loadable(library: str) -> str:
    """'' when the shared library and everything it links load, else the loader's complaint."""
    try:
        ctypes.CDLL(library)
    except OSError as err:
        return str(err).split(":")[-1].strip() or str(err)
    return ""


def _preload_pip_cuda_libraries() -> None:
    """CUDA and cuDNN installed as pip packages (nvidia-*) are not on the loader's path until
    onnxruntime preloads them; do that quietly so the probe sees them."""
    if importlib.util.find_spec("nvidia") is None or not hasattr(ort, "preload_dlls"):
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
        ort.preload_dlls()


def why_not_startable(provider: str) -> str:
    """'' when `provider` can start on this machine, else why it cannot."""
    if provider not in ort.get_available_providers():
        return "not in this onnxruntime build"
    library = _PROVIDER_LIBRARIES.get(provider)
    if library is None:
        return ""
    missing = _loadable("libcuda.so.1")
    if missing:
        return "no CUDA driver (libcuda.so.1)"
    path = Path(ort.__file__).parent / "capi" / library
    if not path.is_file():
        return ""  # built into the library itself: only a session can tell
    _preload_pip_cuda_libraries()
    missing = _loadable(str(path))
    return f"missing {missing}" if missing else ""


def startable_providers(requested: Sequence[str] | None = None) -> list[str]:
    """The requested providers (aliases allowed; default DEFAULT_PROVIDERS), in order, that can
    start here; never empty (CPU when none can). Logs one line saying which are tried."""
    wanted = provider_names(requested)
    skipped = {name: why_not_startable(name) for name in wanted}
    kept = [name for name in wanted if not skipped[name]] or [CPU]
    reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items() if why)
    log.info("ONNX Runtime providers tried: %s%s", kept, f" (skipped {reasons})" if reasons else "")
    return kept
