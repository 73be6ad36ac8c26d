"""The Monodepth2 task: batch handling, pose conventions, and a few optimiser steps per mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from training.config import TrainConfig
from training.tasks.monodepth2 import Monodepth2Task
from training.tasks.step import StepOutput

HEIGHT, WIDTH = 64, 192
MARGIN = 8  # the frames are crops of a wider texture, so shifted crops have no border
STEREO_SHIFT = 6  # pixels the other camera sees the scene shifted by
# A short test baseline (the datasets use 0.1) puts the true depth near the untrained network's
# initial guess, so a few steps already move it towards the truth.
STEREO_BASELINE = 0.005

MODES = {
    "mono": ([0, -1, 1], False),
    "stereo": ([0], True),
    "mono+stereo": ([0, -1, 1], True),
}


def make_config(mode: str) -> TrainConfig:
    offsets, stereo = MODES[mode]
    cfg = TrainConfig()
    cfg.model.weights_init = "scratch"
    cfg.data.height, cfg.data.width = HEIGHT, WIDTH
    cfg.data.frame_offsets = offsets
    cfg.data.use_stereo = stereo
    cfg.validate()
    return cfg


def make_batch(cfg: TrainConfig, batch_size: int = 1) -> dict[str, torch.Tensor]:
    """A scene consistent with a fronto-parallel plane: every view is a shifted crop of one
    smooth random texture (temporal frames 2 px per frame, the right camera STEREO_SHIFT px)."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(batch_size, 3, HEIGHT // 8, WIDTH // 8 + 2, generator=generator)
    texture = F.interpolate(coarse, size=(HEIGHT, WIDTH + 2 * MARGIN), mode="bilinear",
                            align_corners=False)

    def crop(shift: int) -> torch.Tensor:
        return texture[..., MARGIN + shift: MARGIN + shift + WIDTH]

    frames = torch.stack([crop(2 * offset) for offset in cfg.data.frame_offsets], 1)
    K = torch.tensor([[0.58 * WIDTH, 0, WIDTH / 2, 0], [0, 1.92 * HEIGHT, HEIGHT / 2, 0],  # noqa: N806
                      [0, 0, 1, 0], [0, 0, 0, 1.0]])
    batch = {"frames": frames, "frames_aug": frames.clone(), "K": K.repeat(batch_size, 1, 1)}
    if cfg.data.use_stereo:
        # Target is the left image: the right camera sits at +x, so points move by -baseline.
        stereo_T = torch.eye(4).repeat(batch_size, 1, 1)  # noqa: N806
        stereo_T[:, 0, 3] = -STEREO_BASELINE
        batch.update(stereo=crop(STEREO_SHIFT), stereo_aug=crop(STEREO_SHIFT).clone(),
                     stereo_T=stereo_T)
    return batch


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
def test_a_few_steps_reduce_the_loss_with_finite_gradients(mode):
    torch.manual_seed(0)
    cfg = make_config(mode)
    task = Monodepth2Task(cfg)
    assert (task.pose_net is not None) == (mode != "stereo")
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-4)
    batch = make_batch(cfg)
    losses = []
    for _ in range(4):  # three updates, then a last look at the loss
        out = task(batch)
        optimizer.zero_grad()
        out.loss.backward()
        for name, parameter in task.named_parameters():
            # Every parameter takes part (DDP needs that) and no gradient is NaN/Inf.
            assert parameter.grad is not None, name
            assert torch.isfinite(parameter.grad).all(), name
        optimizer.step()
        losses.append(out.loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0], losses


def test_step_output_scalars_and_images():
    torch.manual_seed(0)
    cfg = make_config("mono+stereo")
    task = Monodepth2Task(cfg)
    out = task(make_batch(cfg))
    assert isinstance(out, StepOutput)
    assert out.loss.dim() == 0 and out.loss.requires_grad
    assert set(out.scalars) == {"photometric", "smoothness", "velocity", "automask_fraction"}
    assert not any(v.requires_grad for v in out.scalars.values())
    assert out.scalars["velocity"] == 0.0  # no odometry in this config
    total = out.scalars["photometric"] + out.scalars["smoothness"]
    assert torch.allclose(out.loss.detach(), total)
    assert 0 <= out.scalars["automask_fraction"] <= 1
    assert out.images["disparity"].shape == (1, 1, HEIGHT, WIDTH)
    assert out.images["automask"].shape == (1, 1, HEIGHT, WIDTH)
    for image in out.images.values():
        assert image.min() >= 0 and image.max() <= 1


def test_networks_see_augmented_frames_in_temporal_order():
    cfg = make_config("mono")
    task = Monodepth2Task(cfg)
    batch = make_batch(cfg)
    batch["frames_aug"] = batch["frames"] * 0.5 + 0.2  # "colour jitter"
    depth_inputs, pose_inputs = [], []
    task.depth_net.register_forward_pre_hook(lambda _, args: depth_inputs.append(args[0]))
    task.pose_net.register_forward_pre_hook(lambda _, args: pose_inputs.append(args))
    task(batch)
    aug = batch["frames_aug"]
    assert len(depth_inputs) == 1 and torch.equal(depth_inputs[0], aug[:, 0])
    earlier, later = pose_inputs[0]  # offset -1: (frame -1, frame 0)
    assert torch.equal(earlier, aug[:, 1]) and torch.equal(later, aug[:, 0])
    earlier, later = pose_inputs[1]  # offset +1: (frame 0, frame +1)
    assert torch.equal(earlier, aug[:, 0]) and torch.equal(later, aug[:, 2])


def test_frame_minus_one_uses_the_inverse_transform():
    """The same pose-net output for (-1, 0) and (0, +1) must give mutually inverse transforms."""
    cfg = make_config("mono+stereo")
    task = Monodepth2Task(cfg)
    batch = make_batch(cfg, batch_size=2)
    axisangle = torch.tensor([[0.01, -0.02, 0.03], [0.0, 0.05, 0.0]])
    translation = torch.tensor([[0.1, 0.0, -0.3], [0.0, 0.2, 0.5]])
    views = task._source_views(batch, {-1: (axisangle, translation), 1: (axisangle, translation)})
    assert len(views) == 3
    previous, following, stereo = views
    assert torch.allclose(previous.transform @ following.transform, torch.eye(4).expand(2, 4, 4),
                          atol=1e-6)
    assert torch.equal(previous.image, batch["frames"][:, 1])
    assert torch.equal(stereo.transform, batch["stereo_T"])
    assert torch.equal(stereo.image, batch["stereo"])


def test_depth_model_is_the_scale_zero_depth_and_shares_weights():
    cfg = make_config("stereo")
    task = Monodepth2Task(cfg).eval()
    model = task.depth_model()
    assert isinstance(model, nn.Module)
    image = torch.rand(2, 3, HEIGHT, WIDTH)
    depth = model(image)
    assert depth.shape == (2, 1, HEIGHT, WIDTH)
    assert torch.equal(depth, task.depth_net.predict_depth(image))
    assert cfg.model.min_depth <= depth.min() and depth.max() <= cfg.model.max_depth
    assert set(dict(model.named_parameters()).values()) <= set(task.parameters())
    assert not any(k.startswith("pose_net") for k in task.state_dict())


def test_bad_batches_are_named():
    cfg = make_config("mono+stereo")
    task = Monodepth2Task(cfg)
    batch = make_batch(cfg)
    with pytest.raises(ValueError, match="frame_offsets"):
        task({**batch, "frames": batch["frames"][:, :2], "frames_aug": batch["frames"][:, :2]})
    without_stereo = {k: v for k, v in batch.items() if not k.startswith("stereo")}
    with pytest.raises(KeyError, match="use_stereo"):
        task(without_stereo)


def with_odometry(batch: dict[str, torch.Tensor], transforms: torch.Tensor,
                  valid: list[float]) -> dict[str, torch.Tensor]:
    """The batch plus odometry for its two temporal sources (offsets -1, +1)."""
    count = len(batch["frames"])
    return {**batch, "odom_T": transforms.expand(count, 2, 4, 4).clone(),
            "odom_valid": torch.tensor(valid).expand(count, 2).clone()}


def odometry_config(pose_source: str = "network", velocity_weight: float = 0.0) -> TrainConfig:
    cfg = make_config("mono")
    cfg.data.odometry = True
    cfg.model.pose_source = pose_source
    cfg.loss.velocity_weight = velocity_weight
    cfg.validate()
    return cfg


def motion(x: float, z: float) -> torch.Tensor:
    transform = torch.eye(4)
    transform[0, 3], transform[2, 3] = x, z
    return transform


@pytest.mark.parametrize("pose_source", ["odometry", "odometry_refined"])
def test_odometry_pose_source_warps_with_the_recorded_motion_outside_gaps(pose_source):
    cfg = odometry_config(pose_source)
    task = Monodepth2Task(cfg)
    odometry = torch.stack([motion(0.0, -0.5), motion(0.0, 0.5)])
    batch = with_odometry(make_batch(cfg, batch_size=2), odometry, [1.0, 0.0])
    axisangle = torch.zeros(2, 3)
    translation = torch.tensor([[0.2, 0.0, 0.0], [0.2, 0.0, 0.0]])  # "network": 0.2 units right
    previous, following = task._source_views(batch, {-1: (axisangle, translation),
                                                     1: (axisangle, translation)})
    network_following = motion(0.2, 0.0).expand(2, 4, 4)
    if pose_source == "odometry":
        assert torch.allclose(previous.transform, odometry[0].expand(2, 4, 4))
    else:  # the network's correction follows the odometry motion
        assert torch.allclose(previous.transform, motion(-0.2, -0.5).expand(2, 4, 4))
    # Offset +1 lies in an odometry gap: the network alone.
    assert torch.allclose(following.transform, network_following)


def test_velocity_term_pulls_the_travelled_distance_towards_odometry_and_skips_gaps():
    cfg = odometry_config(velocity_weight=1.0)
    cfg.loss.velocity_huber_delta = 10.0  # quadratic: 0.5 * residual^2 / delta
    task = Monodepth2Task(cfg)
    odometry = torch.stack([motion(0.0, -0.5), motion(0.3, 0.4)])
    valid = [1.0, 1.0]
    batch = with_odometry(make_batch(cfg), odometry, valid)
    translation = torch.tensor([[0.0, 0.0, 0.2]], requires_grad=True)
    motions = {-1: (torch.zeros(1, 3), translation), 1: (torch.zeros(1, 3), translation)}
    term = task._velocity_term(batch, motions)
    # Both sources travelled 0.5 m; the network says 0.2: 0.5 * 0.3^2 / 10 for each.
    assert term.item() == pytest.approx(0.5 * 0.3**2 / 10.0, rel=1e-5)
    term.backward()
    assert translation.grad[0, 2] < 0  # descending the gradient lengthens the translation
    gap = with_odometry(make_batch(cfg), odometry, [0.0, 0.0])
    assert task._velocity_term(gap, motions).item() == 0.0


def test_velocity_term_is_robust_to_a_wheel_slip_outlier():
    """Beyond huber_delta the penalty grows linearly with slope 1 (PackNet-SfM's L1): a 10 m slip
    costs ~10x a 1 m error, not 100x as a squared error would."""
    cfg = odometry_config(velocity_weight=1.0)
    task = Monodepth2Task(cfg)
    batch = make_batch(cfg)
    translation = torch.tensor([[0.0, 0.0, 0.5]])
    motions = {-1: (torch.zeros(1, 3), translation), 1: (torch.zeros(1, 3), translation)}

    def cost(travelled: float) -> float:
        odometry = torch.stack([motion(0.0, travelled), motion(0.0, travelled)])
        return task._velocity_term(with_odometry(batch, odometry, [1.0, 1.0]), motions).item()

    ratio = cost(10.5) / cost(1.5)
    assert 9.0 < ratio < 11.0, ratio
    assert cost(10.5) - cost(9.5) == pytest.approx(1.0, rel=1e-4)  # slope 1 per metre


def test_odometry_modes_need_odometry_in_the_batch():
    cfg = odometry_config(velocity_weight=0.05)
    task = Monodepth2Task(cfg)
    with pytest.raises(KeyError, match="odom_T"):
        task(make_batch(cfg))
