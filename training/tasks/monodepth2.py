"""Monodepth2 as a training task: depth and pose networks plus the self-supervised objective.

One step: predict disparities of the target frame (offset 0) at every scale; get the transform
target -> source for every source view (pose network or robot odometry for temporal neighbours,
the known `stereo_T` for the other camera); upsample each scale's disparity to the input size,
warp each source into the target with it and score the reconstructions with the per-pixel minimum
photometric error (auto-masked), plus edge-aware smoothness. Modes follow from the config:
monocular (frame_offsets [0, -1, 1]), stereo ([0] + use_stereo) or both. With odometry
(data.odometry), a weak velocity term ties the pose network's travelled distance to the robot's, or
the odometry motion replaces (or seeds) the pose network; `reprojection` and `odometry_views` also
serve the fit of metres per unit from odometry after training (training/odometry_scale.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from training.config import TrainConfig
from training.geometry import (
    backproject,
    disp_to_depth,
    project_to_grid,
    sample_at,
    transformation_from_parameters,
)
from training.losses import (
    ReprojectionLoss,
    edge_aware_smoothness,
    photometric_error,
    reprojection_loss,
    velocity_loss,
)
from training.models import DepthNet, DepthPredictor, PoseNet
from training.resample import lanczos_pyramid
from training.tasks.step import StepOutput


@dataclass
class SourceView:
    """A view the target is reconstructed from."""

    image: torch.Tensor  # N x 3 x H x W RGB in [0, 1], not colour-augmented
    transform: torch.Tensor  # N x 4 x 4, target camera -> this camera


class Monodepth2Task(nn.Module):
    """Holds `depth_net` and (with temporal sources) `pose_net`; forward(batch) -> StepOutput.

    Batch keys (see the dataset batch format): frames / frames_aug (N x F x 3 x H x W, order of
    cfg.data.frame_offsets, target first), K (N x 4 x 4 pixel intrinsics at H x W) and, with
    stereo, stereo / stereo_aug / stereo_T; with odometry, odom_T (N x S x 4 x 4, target ->
    source camera in metres, S temporal offsets in config order) and odom_valid (N x S). Logged
    scalars: `photometric` (reprojection loss) and `smoothness` (weighted), each averaged over
    scales, and `velocity` (weighted; 0 without odometry), so loss = photometric + smoothness +
    velocity; `automask_fraction` is the share of pixels the auto-mask keeps.
    """

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        model, loss = cfg.model, cfg.loss
        pretrained = model.weights_init == "pretrained"
        pretrained_path = model.pretrained_path or None
        self.frame_offsets: tuple[int, ...] = tuple(cfg.data.frame_offsets)
        self.use_stereo = cfg.data.use_stereo
        self.scales: tuple[int, ...] = tuple(sorted(model.scales))
        self.alpha = loss.ssim_weight
        self.smoothness_weight = loss.smoothness_weight
        self.automask = loss.automask
        self.automask_tiebreak = loss.automask_tiebreak
        self.min_reprojection = loss.min_reprojection
        self.pose_source = model.pose_source
        self.velocity_weight = loss.velocity_weight
        self.velocity_huber_delta = loss.velocity_huber_delta
        if not self.temporal_offsets and not self.use_stereo:
            raise ValueError(
                f"data.frame_offsets={list(self.frame_offsets)} without data.use_stereo leaves "
                "no source view to reconstruct the target from"
            )

        self.depth_net = DepthNet(model.num_layers, pretrained, pretrained_path, self.scales,
                                  model.min_depth, model.max_depth)
        self.pose_net: PoseNet | None = None
        if self.temporal_offsets:
            # The given ImageNet file fits the pose encoder only when both have the same depth.
            same_depth = model.pose_num_layers == model.num_layers
            self.pose_net = PoseNet(model.pose_num_layers, pretrained,
                                    pretrained_path if same_depth else None)

    @property
    def temporal_offsets(self) -> tuple[int, ...]:
        return tuple(o for o in self.frame_offsets if o != 0)

    def depth_model(self) -> nn.Module:
        """forward(image N x 3 x H x W RGB [0, 1]) -> depth N x 1 x H x W; shares the weights."""
        return DepthPredictor(self.depth_net)

    def forward(self, batch: dict[str, torch.Tensor]) -> StepOutput:
        self._check_batch(batch)
        frames, frames_aug = batch["frames"], batch["frames_aug"]
        disps = self.depth_net(frames_aug[:, 0])
        motions = self.predict_motions(frames_aug)
        # Geometry and losses in float32 even when the networks run under autocast.
        with torch.autocast(device_type=frames.device.type, enabled=False):
            sources = self._source_views(batch, motions)
            disps = {s: d.float() for s, d in disps.items()}
            output = self._objective(frames[:, 0].float(), disps, sources, batch["K"].float())
            velocity = self._velocity_term(batch, motions)
        output.loss = output.loss + velocity
        output.scalars["velocity"] = velocity.detach()
        return output

    @property
    def uses_odometry(self) -> bool:
        return bool(self.temporal_offsets) and (
            self.velocity_weight > 0.0 or self.pose_source != "network"
        )

    def _check_batch(self, batch: dict[str, torch.Tensor]) -> None:
        """Fail before any network runs, naming what the config expected."""
        required = ["frames", "frames_aug", "K"]
        if self.use_stereo:
            required += ["stereo", "stereo_T"]
        if self.uses_odometry:
            required += ["odom_T", "odom_valid"]
        missing = [key for key in required if key not in batch]
        if missing:
            raise KeyError(
                f"batch lacks {missing} (data.use_stereo={self.use_stereo}, odometry needed: "
                f"{self.uses_odometry}); it has {sorted(batch)}"
            )
        frames, frames_aug = batch["frames"], batch["frames_aug"]
        expected = len(self.frame_offsets)
        if frames.dim() != 5 or frames.shape[1] != expected or frames_aug.shape != frames.shape:
            raise ValueError(
                f"batch frames {tuple(frames.shape)} / frames_aug {tuple(frames_aug.shape)}; "
                f"expected N x {expected} x 3 x H x W for frame_offsets {list(self.frame_offsets)}"
            )

    def predict_motions(
        self, frames_aug: torch.Tensor
    ) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Pose-net (axisangle, translation) per temporal offset, frames fed in temporal order."""
        motions: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        pose_net = self.pose_net
        if pose_net is None:  # stereo only
            return motions
        target = frames_aug[:, 0]
        for index, offset in enumerate(self.frame_offsets):
            if offset < 0:
                motions[offset] = pose_net(frames_aug[:, index], target)
            elif offset > 0:
                motions[offset] = pose_net(target, frames_aug[:, index])
        return motions

    def _source_views(
        self,
        batch: dict[str, torch.Tensor],
        motions: dict[int, tuple[torch.Tensor, torch.Tensor]],
    ) -> list[SourceView]:
        views = []
        for source, offset in enumerate(self.temporal_offsets):
            axisangle, translation = motions[offset]
            transform = transformation_from_parameters(
                axisangle.float(), translation.float(), invert=offset < 0
            )
            if self.pose_source != "network":
                transform = self._with_odometry(transform, batch, source)
            index = self.frame_offsets.index(offset)
            views.append(SourceView(batch["frames"][:, index].float(), transform))
        if self.use_stereo:
            views.append(SourceView(batch["stereo"].float(), batch["stereo_T"].float()))
        return views

    def _with_odometry(
        self, network: torch.Tensor, batch: dict[str, torch.Tensor], source: int
    ) -> torch.Tensor:
        """The target -> source transform from odometry where it is valid, else the network's.

        `odometry` uses the recorded motion as it is; `odometry_refined` composes the network's
        (near-identity at the start) correction after it.
        """
        odometry = batch["odom_T"][:, source].float()
        if self.pose_source == "odometry_refined":
            odometry = network @ odometry
        valid = batch["odom_valid"][:, source].float().view(-1, 1, 1) > 0.5
        return torch.where(valid, odometry, network)

    def _velocity_term(
        self,
        batch: dict[str, torch.Tensor],
        motions: dict[int, tuple[torch.Tensor, torch.Tensor]],
    ) -> torch.Tensor:
        """Weighted velocity supervision averaged over temporal sources (0 when off)."""
        if self.velocity_weight == 0.0 or not self.temporal_offsets:
            return batch["frames"].new_zeros(())
        terms = [
            velocity_loss(motions[offset][1].float(), batch["odom_T"][:, source, :3, 3].float(),
                          batch["odom_valid"][:, source], self.velocity_huber_delta)
            for source, offset in enumerate(self.temporal_offsets)
        ]
        return self.velocity_weight * torch.stack(terms).mean()

    def _objective(
        self,
        target: torch.Tensor,
        disps: dict[int, torch.Tensor],
        sources: list[SourceView],
        K: torch.Tensor,  # noqa: N803
    ) -> StepOutput:
        height, width = target.shape[-2:]
        inv_K = torch.linalg.inv(K)  # noqa: N806
        identity_errors = self.unwarped_errors(target, sources) if self.automask else None
        photometric, smoothness, kept = [], [], []
        automask_image = None
        # The reference's pyramid: Lanczos, each scale from the one above.
        pyramid = lanczos_pyramid(target, [disps[scale].shape[-2:] for scale in self.scales])
        for scale, image in zip(self.scales, pyramid, strict=True):
            disp = disps[scale]
            # Full-resolution multi-scale: every scale is judged by warping at input size.
            disp_full = F.interpolate(disp, size=(height, width), mode="bilinear",
                                      align_corners=False)
            depth = disp_to_depth(disp_full, self.depth_net.min_depth, self.depth_net.max_depth)[1]
            reprojection = self.reprojection(target, depth, sources, K, inv_K, identity_errors,
                                             self.automask_tiebreak)
            photometric.append(reprojection.loss)
            kept.append(reprojection.automask_fraction)
            if scale == 0:
                automask_image = reprojection.automask
            weight = self.smoothness_weight / 2**scale
            smoothness.append(weight * edge_aware_smoothness(disp, image))

        photometric_term = torch.stack(photometric).mean()
        smoothness_term = torch.stack(smoothness).mean()
        images = {"disparity": _normalise_for_display(disps[0].detach())}
        if self.automask and automask_image is not None:
            images["automask"] = automask_image.float()
        return StepOutput(
            loss=photometric_term + smoothness_term,
            scalars={
                "photometric": photometric_term.detach(),
                "smoothness": smoothness_term.detach(),
                "automask_fraction": torch.stack(kept).mean(),
            },
            images=images,
        )

    def unwarped_errors(self, target: torch.Tensor, sources: list[SourceView]) -> torch.Tensor:
        """N x S x H x W errors of the sources as they are, the auto-mask's reference."""
        return torch.cat([photometric_error(view.image, target, self.alpha) for view in sources], 1)

    def reprojection(
        self,
        target: torch.Tensor,
        depth: torch.Tensor,
        sources: list[SourceView],
        K: torch.Tensor,  # noqa: N803
        inv_K: torch.Tensor,  # noqa: N803
        identity_errors: torch.Tensor | None,
        tiebreak: bool,
    ) -> ReprojectionLoss:
        """The objective's photometric term for one full-resolution depth map (N x 1 x H x W)."""
        height, width = target.shape[-2:]
        points = backproject(depth, inv_K)
        errors = torch.cat([
            photometric_error(
                sample_at(view.image, project_to_grid(points, K, view.transform, height, width)),
                target,
                self.alpha,
            )
            for view in sources
        ], 1)
        return reprojection_loss(errors, identity_errors, self.min_reprojection, tiebreak)

    def odometry_views(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[list[SourceView], torch.Tensor]:
        """The temporal sources warped by the recorded motion alone, and N: where all are valid."""
        views = [
            SourceView(batch["frames"][:, self.frame_offsets.index(offset)].float(),
                       batch["odom_T"][:, source].float())
            for source, offset in enumerate(self.temporal_offsets)
        ]
        return views, batch["odom_valid"].bool().all(1)


def _normalise_for_display(disp: torch.Tensor) -> torch.Tensor:
    """Per-image min-max stretch of N x 1 x h x w disparity to [0, 1]."""
    low = disp.amin((1, 2, 3), keepdim=True)
    high = disp.amax((1, 2, 3), keepdim=True)
    return (disp - low) / (high - low).clamp_min(1e-7)
