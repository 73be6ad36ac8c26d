"""Draw an organized point cloud from above and behind the camera; a street frame's, offline.

    python -m demo.cloud_picture --out docs/cloud.png
    python -m demo.cloud_picture --model model.onnx --out cloud.png   # a model's depth instead

`cloud_view` draws any cloud as the node publishes it (depth/points, optical frame, metres) with
numpy and OpenCV, nearest point on top, the camera's frustum in white; `make demo` draws the
node's own cloud of a robot frame with it. The command line draws a frame of the synthetic
street generator (KITTI-like camera): its depth (the generator's exact depth, or a model's
through the node's DepthPipeline) is turned into the cloud by depth_ros.pointcloud, exactly as
depth/points is built, coloured by the camera image.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from depth_ros.camera import PinholeIntrinsics
from depth_ros.depth_pipeline import DepthFrame, DepthPipeline, cloud_points
from depth_ros.inference import DepthEstimator
from depth_ros.scale import MetricScaler
from training.datasets import KITTI_NORMALIZED_K
from training.synthetic.rendering import render_view
from training.synthetic.scene import outdoor_scene
from training.synthetic.trajectories import outdoor_trajectory

WIDTH, HEIGHT = 640, 192  # the generated camera image
VIEW_WIDTH, VIEW_HEIGHT = 1280, 640  # the picture
VIEW_FOCAL = 620.0  # pixels
MAX_RANGE_M = 40.0  # farther points (and the sky) are left out of the street picture


@dataclass(frozen=True)
class Viewpoint:
    """Where the picture is taken from, in metres in the camera's optical frame (x right,
    y down, z forward), and how deep the drawn frustum reaches."""

    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    frustum_depth: float


STREET_VIEW = Viewpoint((7.0, -7.0, -7.0), (0.0, 1.0, 14.0), 4.0)  # right, up, behind
ROOM_VIEW = Viewpoint((4.5, -2.2, -1.2), (0.0, -0.2, 2.5), 0.8)  # right, up, a little behind


def street_frame(seed: int) -> tuple[np.ndarray, np.ndarray, PinholeIntrinsics]:
    """RGB (H x W x 3 uint8), exact depth (metres, 0 = sky) and camera of one street frame."""
    rng = np.random.default_rng([seed, 0, 0])
    poses = outdoor_trajectory(rng, 2)
    scene = outdoor_scene(rng, poses[0][2, 3], poses[-1][2, 3])
    camera = PinholeIntrinsics.from_normalized(
        KITTI_NORMALIZED_K.fx, KITTI_NORMALIZED_K.fy, KITTI_NORMALIZED_K.cx,
        KITTI_NORMALIZED_K.cy, WIDTH, HEIGHT,
    )  # fmt: skip
    k = np.array([[camera.fx, 0, camera.cx], [0, camera.fy, camera.cy], [0, 0, 1]])
    rgb, depth = render_view(scene, poses[0], k, WIDTH, HEIGHT)
    return rgb, depth, camera


def frame_depth(
    rgb: np.ndarray, depth: np.ndarray, camera: PinholeIntrinsics, model: Path | None
) -> DepthFrame:
    """The exact depth as a DepthFrame, or what the node's pipeline makes of the frame."""
    if model is None:
        metres = np.where(depth > 0, depth, np.nan).astype(np.float32)
        return DepthFrame(metres, camera, 1.0, 0.0)
    estimator = DepthEstimator(model, ["cpu"])
    scaler = MetricScaler("metadata", contract=estimator.contract)
    return DepthPipeline(estimator, scaler, 0.1, MAX_RANGE_M).process(rgb, camera)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rows: the viewer's x (right), y (down), z (forward) axes in the optical frame."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(np.array([0.0, 1.0, 0.0]), forward)  # x = y x z, y (down) roughly kept
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def project(points: np.ndarray, view: Viewpoint) -> tuple[np.ndarray, np.ndarray]:
    """Viewer pixel coordinates (N x 2) and viewer depth (N) of optical-frame points (N x 3)."""
    eye = np.array(view.eye)
    rotation = look_at(eye, np.array(view.target))
    local = (points - eye) @ rotation.T
    z = local[:, 2]
    uv = VIEW_FOCAL * local[:, :2] / z[:, None] + np.array([VIEW_WIDTH / 2, VIEW_HEIGHT / 2])
    return uv, z


def render(
    points: np.ndarray, colours: np.ndarray, camera: PinholeIntrinsics, view: Viewpoint
) -> np.ndarray:
    """BGR picture of N x 3 points with N x 3 RGB colours, nearest point on top."""
    picture = np.full((VIEW_HEIGHT, VIEW_WIDTH, 3), 32, np.uint8)
    uv, z = project(points, view)
    order = np.argsort(-z)  # far first: near points overwrite them
    uv, z, colours = uv[order], z[order], colours[order]
    for du in (0, 1):  # 2 x 2 pixel splats
        for dv in (0, 1):
            u = np.floor(uv[:, 0]).astype(int) + du
            v = np.floor(uv[:, 1]).astype(int) + dv
            inside = (z > 0.1) & (u >= 0) & (u < VIEW_WIDTH) & (v >= 0) & (v < VIEW_HEIGHT)
            picture[v[inside], u[inside]] = colours[inside][:, ::-1]
    draw_frustum(picture, camera, view)
    title = "depth/points (optical frame), seen from above and behind the camera"
    cv2.putText(picture, title, (16, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (230, 230, 230), 1,
                cv2.LINE_AA)  # fmt: skip
    return picture


def draw_frustum(picture: np.ndarray, camera: PinholeIntrinsics, view: Viewpoint) -> None:
    depth = view.frustum_depth
    corners = [(0, 0), (camera.width, 0), (camera.width, camera.height), (0, camera.height)]
    far = np.array(
        [[(u - camera.cx) / camera.fx * depth, (v - camera.cy) / camera.fy * depth, depth]
         for u, v in corners]
    )  # fmt: skip
    uv, _ = project(np.vstack([np.zeros(3), far]), view)
    points = [(round(float(u)), round(float(v))) for u, v in uv]
    for index in range(4):
        cv2.line(picture, points[0], points[index + 1], (255, 255, 255), 1, cv2.LINE_AA)
        cv2.line(picture, points[index + 1], points[(index + 1) % 4 + 1], (255, 255, 255), 1,
                 cv2.LINE_AA)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.cloud_picture", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/cloud.png"))
    parser.add_argument("--model", type=Path, help="ONNX model (default: the exact depth)")
    parser.add_argument("--seed", type=int, default=3, help="which generated street")
    args = parser.parse_args(argv)
    rgb, depth, camera = street_frame(args.seed)
    frame = frame_depth(rgb, depth, camera, args.model)
    points, colours = cloud_points(frame, rgb)
    assert frame.camera is not None  # cloud_points has checked it
    picture, drawn = cloud_view(points, colours, frame.camera, STREET_VIEW, MAX_RANGE_M, rgb)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), picture)
    print(f"{drawn} points drawn to {args.out} (camera image inset, bottom right)")
    return 0


def cloud_view(
    points: np.ndarray,
    colours: np.ndarray,
    camera: PinholeIntrinsics,
    view: Viewpoint,
    max_range_m: float,
    inset_rgb: np.ndarray,
) -> tuple[np.ndarray, int]:
    """BGR picture of an organized cloud (h x w x 3 metres, optical frame, NaN invalid; colours
    h x w x 3 RGB) with the camera image (H x W x 3 RGB) inset at the bottom right, and the
    number of points drawn (finite and nearer than `max_range_m`)."""
    points, colours = points.reshape(-1, 3), colours.reshape(-1, 3)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(points).all(axis=1) & (np.linalg.norm(points, axis=1) < max_range_m)
    picture = render(points[keep], colours[keep], camera, view)
    height, width = inset_rgb.shape[:2]
    inset_scale = min(0.5, 0.3 * VIEW_HEIGHT / height)
    inset = cv2.resize(inset_rgb, (round(width * inset_scale), round(height * inset_scale)),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    picture[-inset.shape[0] - 12 : -12, -inset.shape[1] - 12 : -12] = inset[..., ::-1]
    return picture, int(keep.sum())


if __name__ == "__main__":
    raise SystemExit(main())
