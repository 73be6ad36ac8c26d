"""Run an exported depth model with ONNX Runtime: RGB uint8 frame in, depth in model units out.

The model contract (depth_ros.contract) is read from the ONNX metadata and checked against the
graph before the first frame. Execution providers are asked for in order (default TensorRT, CUDA,
CPU; aliases allowed) and only those that can start on this machine are tried (see
depth_ros.providers). ONNX Runtime still falls back to CPU if a GPU provider fails inside the
session, so the providers actually in use are read back from the session, exposed as
`.providers`, and a dropped GPU provider is logged as a warning.

Not thread-safe: `predict` reuses its input buffers. Call it from one thread at a time.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from depth_ros.contract import INPUT_NAME, OUTPUT_NAME, ContractError, ModelContract
from depth_ros.providers import ProviderError, startable_providers

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model file is missing, unreadable, or does not keep the model contract."""


def provider_options(provider: str, trt_cache_dir: str = "", trt_fp16: bool = False) -> dict:
    """ONNX Runtime options for one provider.

    TensorRT: optional fp16, and an engine (+ timing) cache in `trt_cache_dir` so that only the
    first start pays the engine build (minutes for a ResNet). CUDA: grow the memory arena only by
    what is asked (the default doubles it), and search cuDNN convolution algorithms once per
    shape (our input size is fixed, so the search is paid once at the first frame).
    """
    if provider == "TensorrtExecutionProvider":
        options = {"trt_fp16_enable": str(bool(trt_fp16))}
        if trt_cache_dir:
            options.update(
                trt_engine_cache_enable="True",
                trt_engine_cache_path=trt_cache_dir,
                trt_timing_cache_enable="True",
                trt_timing_cache_path=trt_cache_dir,
            )
        return options
    if provider == "CUDAExecutionProvider":
        return {"arena_extend_strategy": "kSameAsRequested", "cudnn_conv_algo_search": "EXHAUSTIVE"}
    return {}


def _open_session(
    path: Path,
    providers: list[str],
    options: ort.SessionOptions,
    trt_cache_dir: str,
    trt_fp16: bool,
) -> ort.InferenceSession:
    """Create the session; if ONNX Runtime's own retry kicked in (it prints an "EP Error" banner
    and retries without our provider options), log its text and build again, with our options,
    from the providers that survived."""
    chosen = list(providers)
    for _ in range(len(providers)):
        banner = io.StringIO()
        with contextlib.redirect_stdout(banner):
            session = ort.InferenceSession(
                str(path),
                sess_options=options,
                providers=chosen,
                provider_options=[provider_options(p, trt_cache_dir, trt_fp16) for p in chosen],
            )
        if not banner.getvalue().strip():
            return session
        log.warning("onnxruntime: %s", " ".join(banner.getvalue().split()))
        survivors = [p for p in chosen if p in session.get_providers()]
        if survivors == chosen or not survivors:
            return session
        chosen = survivors
    return session


def _dim_ok(dim: object, expected: int) -> bool:
    """A graph dimension matches when it is symbolic (str/None) or equal to `expected`."""
    return not isinstance(dim, int) or dim == expected


def resize_to_model(
    rgb: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None
) -> np.ndarray:
    """An H x W x C image at `size` (width, height) pixels as the model sees it: INTER_AREA when
    shrinking (no aliasing), bilinear otherwise; `rgb` itself when it is that size already."""
    width, height = size
    if rgb.shape[:2] == (height, width):
        return rgb
    shrinking = rgb.shape[0] >= height and rgb.shape[1] >= width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), dst=dst, interpolation=interpolation)


class DepthEstimator:
    """An ONNX depth model ready to run on RGB frames.

    Attributes: `contract` (ModelContract), `providers` (in use, in priority order),
    `requested_providers` (what was asked for after filtering to this build), `input_size`
    (width, height) of the model input in pixels.
    """

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] | None = None,
        trt_cache_dir: str = "",
        trt_fp16: bool = False,
        intra_op_threads: int = 0,
        intra_op_spinning: bool = False,
    ) -> None:
        """`intra_op_threads` 0 lets ONNX Runtime choose (one per core) for CPU inference.

        `intra_op_spinning` lets idle CPU threads busy-wait for the next operator: slightly lower
        latency on cores nobody else uses, CPU burnt (and taken from other processes) otherwise.
        """
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelLoadError(f"model file {self.model_path} does not exist or is not a file")
        try:
            self.requested_providers = startable_providers(providers)
        except ProviderError as err:
            raise ModelLoadError(str(err)) from err
        if trt_cache_dir and "TensorrtExecutionProvider" in self.requested_providers:
            os.makedirs(trt_cache_dir, exist_ok=True)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra_op_threads
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if intra_op_spinning else "0"
        )
        try:
            self._session = _open_session(
                self.model_path, self.requested_providers, options, trt_cache_dir, trt_fp16
            )
        except Exception as err:  # onnxruntime raises its own (non-RuntimeError) classes
            raise ModelLoadError(
                f"model file {self.model_path} could not be loaded by ONNX Runtime: {err}"
            ) from err
        self.providers: list[str] = self._session.get_providers()
        dropped = [p for p in self.requested_providers if p not in self.providers]
        if dropped:
            log.warning(
                "execution providers %s failed to initialise (missing GPU libraries or no GPU?); "
                "running on %s",
                dropped,
                self.providers,
            )
        try:
            metadata = self._session.get_modelmeta().custom_metadata_map
            self.contract = ModelContract.from_metadata(metadata)
        except ContractError as err:
            raise ModelLoadError(f"model {self.model_path}: {err}") from err
        self._batch_dim = self._check_graph()
        self.input_size = (self.contract.input_width, self.contract.input_height)
        self._resized = np.empty(
            (self.contract.input_height, self.contract.input_width, 3), np.uint8
        )
        self._inputs: dict[int, np.ndarray] = {}  # batch size -> reused N x 3 x H x W buffer

    def _check_graph(self) -> object:
        """Check input/output names, ranks and static sizes against the contract; return the
        batch dimension (an int when the graph fixes it)."""
        height, width = self.contract.input_height, self.contract.input_width
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = {o.name: o for o in self._session.get_outputs()}
        if set(inputs) != {INPUT_NAME} or OUTPUT_NAME not in outputs:
            raise ModelLoadError(
                f"model {self.model_path} has inputs {sorted(inputs)} and outputs "
                f"{sorted(outputs)}; expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r}"
            )
        for arg, channels in ((inputs[INPUT_NAME], 3), (outputs[OUTPUT_NAME], 1)):
            shape = list(arg.shape)
            expected = f"float32 N x {channels} x {height} x {width}"
            if (
                arg.type != "tensor(float)"
                or len(shape) != 4
                or not _dim_ok(shape[1], channels)
                or not _dim_ok(shape[2], height)
                or not _dim_ok(shape[3], width)
            ):
                raise ModelLoadError(
                    f"model {self.model_path} {arg.name!r} is {arg.type} {shape}; expected "
                    f"{expected} (size from the metadata)"
                )
        return inputs[INPUT_NAME].shape[0]

    def preprocess(self, rgb: np.ndarray, out: np.ndarray) -> None:
        """Resize an H x W x 3 uint8 RGB frame to the model input and write it, scaled to
        [0, 1], into `out` (3 x h x w float32). INTER_AREA when shrinking (no aliasing),
        bilinear otherwise."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"frame is {rgb.dtype} {rgb.shape}; expected uint8 H x W x 3 RGB")
        resized = resize_to_model(rgb, self.input_size, dst=self._resized)
        np.divide(resized.transpose(2, 0, 1), np.float32(255.0), out=out, dtype=np.float32)

    def _input_buffer(self, batch: int) -> np.ndarray:
        buffer = self._inputs.get(batch)
        if buffer is None:
            width, height = self.input_size
            buffer = np.empty((batch, 3, height, width), np.float32)
            self._inputs[batch] = buffer
        return buffer

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Depth h x w float32 (model units, model resolution) for an H x W x 3 uint8 RGB frame."""
        batch = self._input_buffer(1)
        self.preprocess(rgb, batch[0])
        (depth,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        return depth[0, 0]

    def predict_batch(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Depth N x h x w for N frames (any sizes), in one run unless the graph fixes N."""
        if not frames:
            width, height = self.input_size
            return np.empty((0, height, width), np.float32)
        if isinstance(self._batch_dim, int) and self._batch_dim != len(frames):
            return np.stack([self.predict(frame) for frame in frames])
        batch = self._input_buffer(len(frames))
        for index, frame in enumerate(frames):
            self.preprocess(frame, batch[index])
        (depth,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        return depth[:, 0]

    def predict_normalized(self, images: np.ndarray) -> np.ndarray:
        """Depth N x h x w for images already at the model input: N x 3 x h x w float32 RGB in
        [0, 1] (the evaluation feeds its own resized frames)."""
        feed = {INPUT_NAME: np.ascontiguousarray(images, dtype=np.float32)}
        (depth,) = self._session.run([OUTPUT_NAME], feed)
        return depth[:, 0]

    def warmup(self) -> None:
        """Run one black frame, so that lazy work (TensorRT engine build for dynamic shapes,
        cuDNN algorithm search) happens now rather than on the first camera frame."""
        width, height = self.input_size
        self.predict(np.zeros((height, width, 3), np.uint8))
