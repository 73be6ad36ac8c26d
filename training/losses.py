"""Monodepth2's self-supervised objective: photometric error, per-pixel minimum, auto-masking
and edge-aware smoothness (Godard et al., "Digging Into Self-Supervised Monocular Depth
Estimation", ICCV 2019), plus the weak velocity supervision of PackNet-SfM (Guizilini et al.,
"3D Packing for Self-Supervised Monocular Depth Estimation", CVPR 2020) that anchors the scale to
the robot's odometry.

Images are N x 3 x H x W RGB in [0, 1]; per-pixel errors are N x 1 x H x W.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

SSIM_C1 = 0.01**2  # stabilisers for a dynamic range of 1
SSIM_C2 = 0.03**2
TIEBREAK_STD = 1e-5  # noise on identity errors so a static pixel never ties its warped error
DISP_MEAN_EPS = 1e-7


def _box3x3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1)


def ssim_dissimilarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1 - SSIM) / 2 per pixel and channel, in [0, 1], on 3x3 reflection-padded box windows."""
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    y = F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x = _box3x3(x)
    mu_y = _box3x3(y)
    sigma_x = _box3x3(x * x) - mu_x * mu_x
    sigma_y = _box3x3(y * y) - mu_y * mu_y
    sigma_xy = _box3x3(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return torch.clamp((1 - numerator / denominator) / 2, 0, 1)


def photometric_error(
    pred: torch.Tensor, target: torch.Tensor, alpha: float = 0.85
) -> torch.Tensor:
    """pe = alpha (1 - SSIM) / 2 + (1 - alpha) L1, channel means -> N x 1 x H x W."""
    l1 = (pred - target).abs().mean(1, keepdim=True)
    ssim = ssim_dissimilarity(pred, target).mean(1, keepdim=True)
    return alpha * ssim + (1 - alpha) * l1


@dataclass
class ReprojectionLoss:
    """Result of combining the per-source errors of one scale."""

    loss: torch.Tensor  # scalar: mean over pixels of the selected error
    selected: torch.Tensor  # N x 1 x H x W error each pixel contributes
    automask: torch.Tensor  # N x 1 x H x W bool, True where a warped error won (pixel is kept)
    automask_fraction: torch.Tensor  # scalar, fraction of kept pixels (1 without auto-masking)


def reprojection_loss(
    reprojection_errors: torch.Tensor,
    identity_errors: torch.Tensor | None = None,
    min_reprojection: bool = True,
    tiebreak: bool = True,
) -> ReprojectionLoss:
    """Per-pixel minimum over sources with optional auto-masking.

    reprojection_errors: N x S x H x W, pe(warped source s, target). With min_reprojection the
    best source wins at each pixel (a pixel occluded in one source is explained by another);
    otherwise the sources are averaged. identity_errors (N x S x H x W, pe(unwarped source,
    target)) enable auto-masking: they join the minimum, and pixels where an un-warped source
    beats every warped one (static camera, objects moving with it, textureless areas) contribute
    their identity error, which carries no gradient, so they are effectively masked. `tiebreak`
    adds N(0, 1e-5) noise to the identity errors so exact ties (e.g. a static frame) are broken
    at random rather than always in favour of the identity.
    """
    def combine(errors: torch.Tensor) -> torch.Tensor:
        return errors if min_reprojection else errors.mean(1, keepdim=True)

    reprojection = combine(reprojection_errors)
    if identity_errors is None:
        selected = reprojection.min(1, keepdim=True).values
        kept = torch.ones_like(selected, dtype=torch.bool)
    else:
        identity = combine(identity_errors)
        if tiebreak:
            identity = identity + torch.randn_like(identity) * TIEBREAK_STD
        combined = torch.cat([identity, reprojection], 1)
        selected, index = combined.min(1, keepdim=True)
        kept = index >= identity.shape[1]
    return ReprojectionLoss(
        loss=selected.mean(),
        selected=selected,
        automask=kept,
        automask_fraction=kept.float().mean().detach(),
    )


def edge_aware_smoothness(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Scalar first-order smoothness of the mean-normalised disparity, relaxed at image edges.

    disp: N x 1 x h x w; image: N x 3 x h x w at the same scale. Normalising by the mean stops
    the network from lowering the term by shrinking the disparity (scale is unknown in mono).
    """
    disp = disp / (disp.mean((2, 3), keepdim=True) + DISP_MEAN_EPS)
    grad_disp_x = (disp[:, :, :, :-1] - disp[:, :, :, 1:]).abs()
    grad_disp_y = (disp[:, :, :-1, :] - disp[:, :, 1:, :]).abs()
    grad_image_x = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(1, keepdim=True)
    grad_image_y = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(1, keepdim=True)
    grad_disp_x = grad_disp_x * torch.exp(-grad_image_x)
    grad_disp_y = grad_disp_y * torch.exp(-grad_image_y)
    return grad_disp_x.mean() + grad_disp_y.mean()


def velocity_loss(
    predicted_translation: torch.Tensor,
    odometry_translation: torch.Tensor,
    valid: torch.Tensor,
    huber_delta: float,
) -> torch.Tensor:
    """Scalar Huber penalty on | ||t_pred|| - ||t_odom|| | over the pairs odometry covers.

    predicted_translation, odometry_translation: N x 3 camera translations between two frames,
    odometry in metres (so the network's units become metres); valid: N, 1 where odometry
    covers both stamps. Only the travelled distance is supervised, never the direction: wheel
    odometry is good at distance and poor at heading. The penalty is quadratic within
    `huber_delta` metres (sensor noise) and linear with slope 1 beyond (wheel slip), so one bad
    reading cannot dominate and the weight means what PackNet-SfM's L1 weight means.
    Pairs in odometry gaps contribute nothing; with none valid the term is 0.
    """
    residual = (torch.linalg.vector_norm(predicted_translation, dim=-1)
                - torch.linalg.vector_norm(odometry_translation, dim=-1))
    penalty = F.smooth_l1_loss(residual, torch.zeros_like(residual), reduction="none",
                               beta=huber_delta)
    weights = valid.to(penalty.dtype)
    return (penalty * weights).sum() / weights.sum().clamp_min(1.0)
