"""Photometric error, SSIM, per-pixel minimum, auto-masking and smoothness on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.losses import (
    SSIM_C1,
    SSIM_C2,
    edge_aware_smoothness,
    photometric_error,
    reprojection_loss,
    ssim_dissimilarity,
)


def smooth_texture(seed: int, height: int = 32, width: int = 48) -> torch.Tensor:
    """1 x 3 x H x W deterministic smooth random image in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 4, width // 4, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear",
                                           align_corners=False)


def ssim_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """Dissimilarity of two 3 x 3 windows, population statistics."""
    mu_x, mu_y = x.mean(), y.mean()
    sigma_x, sigma_y = x.var(), y.var()
    sigma_xy = ((x - mu_x) * (y - mu_y)).mean()
    ssim = ((2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)) / (
        (mu_x**2 + mu_y**2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    )
    return float(np.clip((1 - ssim) / 2, 0, 1))


def test_ssim_of_identical_images_is_zero():
    image = smooth_texture(0)
    assert ssim_dissimilarity(image, image).abs().max() < 1e-6
    assert photometric_error(image, image).abs().max() < 1e-6


def test_ssim_matches_hand_computed_windows_with_reflection_padding():
    generator = np.random.default_rng(3)
    x = generator.random((5, 6))
    y = generator.random((5, 6))
    got = ssim_dissimilarity(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None])
    assert got.shape == (1, 1, 5, 6)
    # An interior pixel sees its plain 3 x 3 neighbourhood.
    assert got[0, 0, 2, 3].item() == pytest.approx(ssim_by_hand(x[1:4, 2:5], y[1:4, 2:5]))
    # The corner pixel sees the reflected neighbourhood (rows 1,0,1 and columns 1,0,1).
    reflect = np.ix_([1, 0, 1], [1, 0, 1])
    assert got[0, 0, 0, 0].item() == pytest.approx(ssim_by_hand(x[reflect], y[reflect]))


def test_ssim_of_constant_images_and_clamping():
    a, b = 0.2, 0.6
    constant = torch.ones(1, 1, 4, 4, dtype=torch.float64)
    got = ssim_dissimilarity(constant * a, constant * b)
    expected = (1 - (2 * a * b + SSIM_C1) / (a * a + b * b + SSIM_C1)) / 2  # variances are 0
    assert torch.allclose(got, torch.full_like(got, expected), atol=1e-6)
    # A negated pattern has SSIM near -1: dissimilarity near 1, never beyond.
    pattern = torch.tensor([[0.0, 1.0] * 4, [1.0, 0.0] * 4] * 4)[None, None]
    inverted = ssim_dissimilarity(pattern, 1 - pattern)
    assert inverted.max() <= 1.0
    assert inverted.min() > 0.95


def test_photometric_error_mixes_ssim_and_l1():
    image = smooth_texture(1)
    brighter = image + 0.1
    pe = photometric_error(brighter, image)
    assert pe.shape == (1, 1, 32, 48)
    ssim = ssim_dissimilarity(brighter, image).mean(1, keepdim=True)
    assert torch.allclose(pe, 0.85 * ssim + 0.15 * 0.1, atol=1e-6)
    assert torch.allclose(photometric_error(brighter, image, alpha=0.0), torch.full_like(pe, 0.1))


def test_min_reprojection_lets_the_unoccluded_source_win():
    target = smooth_texture(2)
    occluder = torch.full((1, 3, 12, 12), 0.9)
    left_blocked = target.clone()
    left_blocked[..., 10:22, 4:16] = occluder
    right_blocked = target.clone()
    right_blocked[..., 10:22, 30:42] = occluder
    errors = torch.cat([photometric_error(left_blocked, target),
                        photometric_error(right_blocked, target)], 1)

    result = reprojection_loss(errors, None, min_reprojection=True)
    assert result.selected.shape == (1, 1, 32, 48)
    # Each occluded patch is explained by the other source: the minimum is ~0 everywhere.
    assert result.selected.max() < 1e-5
    assert errors[:, 0, 12:20, 6:14].min() > 0.05  # the occluded source did lose there
    assert result.automask.all() and result.automask_fraction.item() == 1.0

    average = reprojection_loss(errors, None, min_reprojection=False)
    assert torch.allclose(average.selected, errors.mean(1, keepdim=True))
    assert average.loss > 10 * result.loss


def test_automask_drops_pixels_where_the_unwarped_source_is_better():
    """Sample 0: the camera stood still (source == target), so the un-warped source beats any
    imperfect warp and every pixel is masked. Sample 1: the camera moved (source shifted), the
    warp recovers the target, so every pixel is kept."""
    target = torch.cat([smooth_texture(7), smooth_texture(8)])
    source = target.clone()
    source[1] = torch.roll(target[1], shifts=6, dims=-1)
    reconstruction = target + 0.02 * smooth_texture(9)  # a good but imperfect warp, both samples
    identity = photometric_error(source, target)
    warped = photometric_error(reconstruction, target)
    result = reprojection_loss(warped, identity, min_reprojection=True, tiebreak=False)
    assert not result.automask[0].any()
    assert result.automask[1].float().mean() > 0.95
    assert 0.45 < result.automask_fraction.item() <= 0.5
    # Masked pixels contribute their identity error (0 here), kept ones the warped error.
    assert result.selected[0].max() < 1e-6
    assert torch.equal(result.selected[1][result.automask[1]], warped[1][result.automask[1]])


def test_automask_with_several_sources_keeps_pixels_any_warp_beats():
    # Rows are sources, columns pixels.
    identity = torch.tensor([[0.2, 0.01], [0.2, 0.3]]).view(1, 2, 2, 1)
    warped = torch.tensor([[0.1, 0.5], [0.05, 0.4]]).view(1, 2, 2, 1)
    result = reprojection_loss(warped, identity, tiebreak=False)
    # pixel 0: a warp (0.05) beats both identities (0.2); pixel 1: identity 0.01 beats all.
    assert result.automask.flatten().tolist() == [True, False]
    assert result.selected.flatten().tolist() == pytest.approx([0.05, 0.01])


def test_tiebreak_noise_decides_exact_ties_at_random():
    """A static source warped with zero motion ties its identity error exactly."""
    errors = smooth_texture(4)[:, :1] * 0.1
    off = reprojection_loss(errors, errors.clone(), tiebreak=False)
    assert off.automask_fraction.item() == 0.0  # ties go to the identity error, always
    torch.manual_seed(0)
    on = reprojection_loss(errors, errors.clone(), tiebreak=True)
    assert 0.4 < on.automask_fraction.item() < 0.6
    assert torch.allclose(on.selected, errors, atol=1e-4)


def test_smoothness_is_zero_for_constant_disparity_and_scale_invariant():
    image = smooth_texture(5)
    assert edge_aware_smoothness(torch.full((1, 1, 32, 48), 0.3), image).item() == 0.0
    disp = smooth_texture(6)[:, :1]
    assert edge_aware_smoothness(disp * 7, image).item() == pytest.approx(
        edge_aware_smoothness(disp, image).item(), rel=1e-5
    )


def test_smoothness_by_hand_and_edge_awareness():
    height, width = 4, 5
    ramp = (1 + 0.1 * torch.arange(width, dtype=torch.float64)).expand(1, 1, height, width)
    flat = torch.zeros(1, 3, height, width, dtype=torch.float64)
    mean = ramp.mean().item()
    assert edge_aware_smoothness(ramp, flat).item() == pytest.approx(0.1 / mean)

    step = torch.zeros(1, 1, height, width)
    step[..., 3:] = 1.0
    edge_image = torch.zeros(1, 3, height, width)
    edge_image[..., 3:] = 1.0
    across_edge = edge_aware_smoothness(step, edge_image)
    across_flat = edge_aware_smoothness(step, torch.zeros(1, 3, height, width))
    assert across_edge.item() == pytest.approx(across_flat.item() * np.exp(-1.0), rel=1e-5)
