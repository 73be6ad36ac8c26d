"""Geometry of view synthesis: depth from disparity, poses, projection and warping."""
# ruff: noqa: N806  (K, inv_K and T are the usual symbols for intrinsics and poses)

from __future__ import annotations

import math

import pytest
import torch

from training.geometry import (
    backproject,
    disp_to_depth,
    project_to_grid,
    rotation_from_axisangle,
    transformation_from_parameters,
    warp,
)
from training.losses import photometric_error

HEIGHT, WIDTH = 64, 192
FX, FY, CX, CY = 110.0, 120.0, 95.5, 31.5


def intrinsics(batch: int = 1) -> torch.Tensor:
    K = torch.tensor([[FX, 0, CX, 0], [0, FY, CY, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    return K.repeat(batch, 1, 1)


def grid_to_pixels(grid: torch.Tensor) -> torch.Tensor:
    """Undo the align_corners=True normalisation: N x H x W x 2 -> pixel (u, v)."""
    scale = torch.tensor([WIDTH - 1, HEIGHT - 1], dtype=grid.dtype)
    return (grid / 2 + 0.5) * scale


def test_disp_to_depth_maps_sigmoid_range_to_depth_range():
    disp = torch.tensor([0.0, 1.0, 0.5])
    scaled, depth = disp_to_depth(disp, 0.1, 100.0)
    assert depth[0].item() == pytest.approx(100.0)
    assert depth[1].item() == pytest.approx(0.1)
    assert scaled[2].item() == pytest.approx(0.01 + 0.5 * (10.0 - 0.01))
    assert depth[2].item() == pytest.approx(1 / (0.01 + 0.5 * 9.99))


def test_rotation_matches_known_rotations_and_matrix_exponential():
    quarter_turn_z = rotation_from_axisangle(torch.tensor([[0.0, 0.0, math.pi / 2]]))
    x_axis = torch.tensor([1.0, 0.0, 0.0, 1.0])
    assert torch.allclose(quarter_turn_z[0] @ x_axis, torch.tensor([0.0, 1.0, 0.0, 1.0]),
                          atol=1e-6)
    assert torch.allclose(rotation_from_axisangle(torch.zeros(2, 3)), torch.eye(4).expand(2, 4, 4))

    generator = torch.Generator().manual_seed(0)
    axisangle = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    x, y, z = axisangle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).view(5, 3, 3)
    expected = torch.linalg.matrix_exp(skew)
    rot = rotation_from_axisangle(axisangle)
    assert torch.allclose(rot[:, :3, :3], expected, atol=1e-6)
    assert torch.allclose(rot[:, 3], torch.tensor([0, 0, 0, 1.0], dtype=torch.float64))


def test_inverted_transform_is_the_inverse_of_the_forward_one():
    """Frame -1 is fed as (earlier=-1, later=0); invert=True must give exactly the inverse."""
    generator = torch.Generator().manual_seed(1)
    axisangle = 0.3 * torch.randn(4, 3, generator=generator, dtype=torch.float64)
    translation = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    forward = transformation_from_parameters(axisangle, translation, invert=False)
    inverse = transformation_from_parameters(axisangle, translation, invert=True)
    assert torch.allclose(inverse, torch.linalg.inv(forward), atol=1e-10)
    # forward = [R | t]: rotate, then translate.
    rot = rotation_from_axisangle(axisangle)
    assert torch.allclose(forward[:, :3, :3], rot[:, :3, :3])
    assert torch.allclose(forward[:, :3, 3], translation)


def test_backprojection_and_projection_of_known_points():
    depth = torch.full((1, 1, HEIGHT, WIDTH), 5.0)
    depth[0, 0, 20, 10] = 2.0
    K = intrinsics()
    points = backproject(depth, torch.linalg.inv(K))
    assert points.shape == (1, 4, HEIGHT * WIDTH)
    point = points[0, :, 20 * WIDTH + 10]  # pixel (u=10, v=20), 2 units away
    expected = torch.tensor([(10 - CX) * 2 / FX, (20 - CY) * 2 / FY, 2.0, 1.0])
    assert torch.allclose(point, expected, atol=1e-5)

    # Camera moved 0.5 to the left: the source sees everything shifted right by fx * 0.5 / Z.
    T = torch.eye(4)[None].clone()
    T[0, 0, 3] = 0.5
    pixels = grid_to_pixels(project_to_grid(points, K, T, HEIGHT, WIDTH))
    assert pixels.shape == (1, HEIGHT, WIDTH, 2)
    assert torch.allclose(pixels[0, 20, 10], torch.tensor([10 + FX * 0.5 / 2.0, 20.0]), atol=1e-3)
    assert torch.allclose(pixels[0, 40, 100], torch.tensor([100 + FX * 0.5 / 5.0, 40.0]),
                          atol=1e-3)

    # Explicit 3-D points through a general pose, against a hand projection u = K (R X + t).
    world = torch.tensor([[1.0, 0.5, 4.0], [-2.0, 1.0, 8.0], [0.3, -0.4, 2.5], [0.0, 0.0, 1.0]])
    axisangle = torch.tensor([[0.02, -0.1, 0.05]])
    translation = torch.tensor([[0.2, -0.1, 0.4]])
    T = transformation_from_parameters(axisangle, translation)
    points = torch.cat([world.T, torch.ones(1, 4)], 0)[None]  # 1 x 4 x 4: a 2 x 2 "image"
    rot = rotation_from_axisangle(axisangle)[0, :3, :3]
    cam = world @ rot.T + translation
    expected = torch.stack([FX * cam[:, 0] / cam[:, 2] + CX, FY * cam[:, 1] / cam[:, 2] + CY], 1)
    grid = project_to_grid(points, K, T, 2, 2)
    pixels = (grid[0].reshape(4, 2) / 2 + 0.5) * 1  # a 2 x 2 image: pixel = (g/2 + 0.5)(2 - 1)
    assert torch.allclose(pixels, expected, atol=1e-3)


def test_pixel_grid_works_for_any_batch_size():
    K = intrinsics(3)
    depth = torch.rand(3, 1, HEIGHT, WIDTH) + 1
    points = backproject(depth, torch.linalg.inv(K))
    identity = torch.eye(4).repeat(3, 1, 1)
    pixels = grid_to_pixels(project_to_grid(points, K, identity, HEIGHT, WIDTH))
    v, u = torch.meshgrid(torch.arange(HEIGHT, dtype=torch.float32),
                          torch.arange(WIDTH, dtype=torch.float32), indexing="ij")
    assert torch.allclose(pixels, torch.stack([u, v], -1).expand(3, -1, -1, -1), atol=1e-3)
    assert backproject(depth[:1], torch.linalg.inv(K[:1])).shape == (1, 4, HEIGHT * WIDTH)


# --- warping an analytic scene --------------------------------------------------------------

PLANE_NORMAL = torch.tensor([0.0, -0.5, 1.0], dtype=torch.float64)  # plane n . X = 4: Z - Y/2 = 4
PLANE_OFFSET = 4.0
AXISANGLE = torch.tensor([[0.01, 0.03, -0.005]], dtype=torch.float64)
TRANSLATION = torch.tensor([[0.15, -0.02, 0.25]], dtype=torch.float64)


def texture(points: torch.Tensor) -> torch.Tensor:
    """Smooth RGB pattern painted on the plane; points ... x 3 in the target frame."""
    x, y, z = points.unbind(-1)
    channels = [
        0.5 + 0.2 * torch.sin(6 * x + 1) * torch.cos(5 * y) + 0.1 * torch.sin(3 * z),
        0.5 + 0.25 * torch.cos(4 * x - 3 * y),
        0.5 + 0.2 * torch.sin(7 * y + 2 * x) + 0.1 * torch.cos(5 * x),
    ]
    return torch.stack(channels, 0)


def pixel_rays() -> torch.Tensor:
    """H x W x 3 rays K^-1 [u, v, 1]."""
    v, u = torch.meshgrid(torch.arange(HEIGHT, dtype=torch.float64),
                          torch.arange(WIDTH, dtype=torch.float64), indexing="ij")
    return torch.stack([(u - CX) / FX, (v - CY) / FY, torch.ones_like(u)], -1)


def render_plane_scene() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Target image, its exact depth, the source image and T (target -> source).

    Rendered by ray-plane intersection in float64, independently of the warping code: the source
    camera's rays are taken into the target frame with the matrix exponential of the rotation.
    """
    rays = pixel_rays()
    depth = PLANE_OFFSET / (rays @ PLANE_NORMAL)  # Z along the ray with z = 1
    target = texture(rays * depth[..., None])

    x, y, z = AXISANGLE[0]
    skew = torch.tensor([[0, -z, y], [z, 0, -x], [-y, x, 0]], dtype=torch.float64)
    rot = torch.linalg.matrix_exp(skew)  # target -> source: X_s = R X_t + t
    t = TRANSLATION[0]
    rays_t = rays @ rot  # R^T d for each source ray d (row vectors)
    offset_t = rot.T @ t
    scale = (PLANE_OFFSET + PLANE_NORMAL @ offset_t) / (rays_t @ PLANE_NORMAL)
    source = texture(scale[..., None] * rays_t - offset_t)

    T = transformation_from_parameters(AXISANGLE, TRANSLATION).float()
    return target[None].float(), depth[None, None].float(), source[None].float(), T


def test_warping_with_true_depth_and_pose_reproduces_the_target():
    target, depth, source, T = render_plane_scene()
    K = intrinsics()
    inv_K = torch.linalg.inv(K)
    grid = project_to_grid(backproject(depth, inv_K), K, T, HEIGHT, WIDTH)
    visible = (grid.abs() < 0.98).all(-1)[:, None]  # inside the source, away from its border
    assert visible.float().mean() > 0.7

    def error(d: torch.Tensor) -> float:
        return photometric_error(warp(source, d, K, inv_K, T), target)[visible].mean().item()

    true_error = error(depth)
    unwarped_error = photometric_error(source, target)[visible].mean().item()
    assert true_error < 1e-3
    assert error(depth * 1.1) > 10 * true_error  # 10 % too far is already clearly worse
    assert error(depth * 1.5) > 0.01
    assert error(torch.full_like(depth, 1.0)) > 0.1
    assert unwarped_error > 0.1
    # The reconstruction itself, not only its score, matches the target.
    difference = (warp(source, depth, K, inv_K, T) - target).abs()
    assert difference[visible.expand_as(target)].mean() < 0.01
