"""Camera geometry for view synthesis: disparity -> depth, poses, back-projection and warping.

Frames: pinhole camera, x right, y down, z forward (OpenCV). Intrinsics K are 4 x 4 pixel
matrices for the image size being warped, [[fx,0,cx,0],[0,fy,cy,0],[0,0,1,0],[0,0,0,1]]. A
transform T (N x 4 x 4) maps points from the target camera's frame into the source camera's.
Depth and translation are in the network's units (metres when trained with the stereo baseline).
Every function takes any batch size N.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

PROJECTION_EPS = 1e-7  # keeps points on the camera plane from dividing by zero
AXISANGLE_EPS = 1e-7  # keeps the zero rotation from dividing by zero


def disp_to_depth(
    disp: torch.Tensor, min_depth: float, max_depth: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sigmoid output in [0, 1] -> (scaled disparity in [1/max_depth, 1/min_depth], depth).

    Disparity 0 is max_depth, disparity 1 is min_depth; depth is linear in 1/disp.
    """
    min_disp = 1.0 / max_depth
    max_disp = 1.0 / min_depth
    scaled_disp = min_disp + (max_disp - min_disp) * disp
    return scaled_disp, 1.0 / scaled_disp


def rotation_from_axisangle(axisangle: torch.Tensor) -> torch.Tensor:
    """N x 3 axis-angle (direction = axis, norm = angle in radians) -> N x 4 x 4 rotation.

    Rodrigues' formula R = cos(a) I + sin(a) [k]x + (1 - cos(a)) k k^T.
    """
    angle = torch.linalg.vector_norm(axisangle, dim=-1, keepdim=True)  # N x 1
    axis = axisangle / (angle + AXISANGLE_EPS)
    cos = torch.cos(angle)[..., None]  # N x 1 x 1
    sin = torch.sin(angle)[..., None]
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).view(-1, 3, 3)
    eye = torch.eye(3, dtype=axisangle.dtype, device=axisangle.device)
    rot3 = cos * eye + sin * cross + (1 - cos) * axis[:, :, None] * axis[:, None, :]
    rot = torch.eye(4, dtype=axisangle.dtype, device=axisangle.device).repeat(len(rot3), 1, 1)
    rot[:, :3, :3] = rot3
    return rot


def translation_matrix(translation: torch.Tensor) -> torch.Tensor:
    """N x 3 translation -> N x 4 x 4 homogeneous translation."""
    mat = torch.eye(4, dtype=translation.dtype, device=translation.device)
    mat = mat.repeat(len(translation), 1, 1)
    mat[:, :3, 3] = translation
    return mat


def transformation_from_parameters(
    axisangle: torch.Tensor, translation: torch.Tensor, invert: bool = False
) -> torch.Tensor:
    """Pose-network output (N x 3 each) -> N x 4 x 4 transform target -> source camera.

    The pose network always sees frames in temporal order, so its output for the pair
    (frame -1, frame 0) maps frame -1 to frame 0; `invert=True` turns it into the exact inverse
    R^T T(-t) needed to map the target (frame 0) into frame -1.
    """
    rot = rotation_from_axisangle(axisangle)
    if invert:
        return rot.transpose(1, 2) @ translation_matrix(-translation)
    return translation_matrix(translation) @ rot


@functools.lru_cache(maxsize=16)
def _pixel_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """3 x HW homogeneous pixel coordinates [u, v, 1] (u = column, v = row), row-major.

    Built outside inference mode so a grid first made during evaluation still serves training.
    """
    with torch.inference_mode(False):
        v, u = torch.meshgrid(
            torch.arange(height, device=device, dtype=dtype),
            torch.arange(width, device=device, dtype=dtype),
            indexing="ij",
        )
        return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones_like(u).reshape(-1)], 0)


def backproject(depth: torch.Tensor, inv_K: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """N x 1 x H x W depth and N x 4 x 4 K^-1 -> N x 4 x HW homogeneous camera points."""
    n, _, height, width = depth.shape
    pix = _pixel_grid(height, width, depth.device, depth.dtype)
    rays = inv_K[:, :3, :3] @ pix  # N x 3 x HW
    points = depth.reshape(n, 1, -1) * rays
    return torch.cat([points, torch.ones_like(points[:, :1])], 1)


def project_to_grid(
    points: torch.Tensor,
    K: torch.Tensor,  # noqa: N803 (the usual symbols for intrinsics and pose)
    T: torch.Tensor,  # noqa: N803
    height: int,
    width: int,
) -> torch.Tensor:
    """N x 4 x HW target-camera points -> N x H x W x 2 `grid_sample` coordinates in the source.

    Pixels (u, v) of the source camera are normalised for align_corners=True: -1 is the centre of
    the first pixel, +1 the centre of the last.
    """
    projection = (K @ T)[:, :3, :]
    cam = projection @ points  # N x 3 x HW
    pix = cam[:, :2] / (cam[:, 2:3] + PROJECTION_EPS)
    pix = pix.view(-1, 2, height, width).permute(0, 2, 3, 1)
    scale = torch.tensor([width - 1, height - 1], dtype=pix.dtype, device=pix.device)
    return (pix / scale - 0.5) * 2


def sample_at(source: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear read of N x C x H x W `source` at `grid` (from project_to_grid).

    Points that fall outside repeat the border pixel, as the reference does.
    """
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=True)


def warp(
    source: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,  # noqa: N803
    inv_K: torch.Tensor,  # noqa: N803
    T: torch.Tensor,  # noqa: N803
) -> torch.Tensor:
    """Synthesise the target view from `source` given target depth and T (target -> source)."""
    height, width = depth.shape[-2:]
    return sample_at(source, project_to_grid(backproject(depth, inv_K), K, T, height, width))
