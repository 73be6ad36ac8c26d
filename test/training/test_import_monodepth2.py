"""Importing the published Monodepth2 layout: a folder written from our own model round-trips."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from training.config import TrainConfig
from training.import_monodepth2 import WeightsImportError, import_monodepth2, main
from training.tasks.build import build_task, load_task

HEIGHT, WIDTH = 64, 96

# The published decoder list: decoder.<k> for upconv(i, j) is k = 2 (4 - i) + j; in our decoder
# level i is levels.<4 - i>, its block j = 0 `upconv`, j = 1 `fuse`; heads are decoder.<10 + s>.
OFFICIAL_DECODER = {
    **{f"decoder.{2 * (4 - i) + j}.": f"levels.{4 - i}.{('upconv', 'fuse')[j]}."
       for i in range(5) for j in range(2)},
    **{f"decoder.{10 + s}.": f"disp_heads.{s}." for s in range(4)},
}
OFFICIAL_POSE = {"net.0.": "squeeze.", "net.1.": "pose0.", "net.2.": "pose1.", "net.3.": "pose2."}


def _our_task(use_stereo: bool = False, pose: bool = True) -> torch.nn.Module:
    cfg = TrainConfig()
    cfg.data.height, cfg.data.width = HEIGHT, WIDTH
    cfg.data.use_stereo = use_stereo
    cfg.data.frame_offsets = [0, -1, 1] if pose else [0]
    cfg.model.weights_init = "scratch"
    torch.manual_seed(3)
    task = build_task(cfg)
    with torch.no_grad():  # non-trivial batch-norm statistics, so they must be carried over too
        for name, tensor in task.state_dict().items():
            if name.endswith("running_mean"):
                tensor.normal_(0.0, 0.1)
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
    return task.eval()


def _rename(state: dict[str, torch.Tensor], prefix: str, table: dict[str, str]) -> dict:
    """Our `prefix.<ours>` keys -> official keys, through a official-prefix -> our-prefix table."""
    ours_to_official = {ours: official for official, ours in table.items()}
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        match = [ours for ours in ours_to_official if rest.startswith(ours)]
        assert len(match) == 1, rest
        out[ours_to_official[match[0]] + rest[len(match[0]):]] = value.clone()
    return out


def _write_official(task: torch.nn.Module, folder: Path, use_stereo: bool, pose: bool) -> None:
    """The folder layout of the published models, built from our weights."""
    folder.mkdir(parents=True, exist_ok=True)
    state = task.state_dict()
    # Our DepthNet.encoder is a ResnetEncoder whose `encoder` is the torchvision network, the
    # same nesting as the published encoder: its state dict is the published one minus fc.
    encoder = {k[len("depth_net.encoder."):]: v.clone() for k, v in state.items()
               if k.startswith("depth_net.encoder.")}
    encoder |= {"encoder.fc.weight": torch.randn(1000, 512), "encoder.fc.bias": torch.randn(1000),
                "height": HEIGHT, "width": WIDTH, "use_stereo": use_stereo}
    torch.save(encoder, folder / "encoder.pth")
    torch.save(_rename(state, "depth_net.decoder.", OFFICIAL_DECODER), folder / "depth.pth")
    if pose:
        pose_encoder = {k[len("pose_net.encoder."):]: v.clone() for k, v in state.items()
                        if k.startswith("pose_net.encoder.")}
        pose_encoder |= {"encoder.fc.weight": torch.randn(1000, 512),
                         "encoder.fc.bias": torch.randn(1000)}
        assert pose_encoder["encoder.conv1.weight"].shape[1] == 6
        torch.save(pose_encoder, folder / "pose_encoder.pth")
        torch.save(_rename(state, "pose_net.decoder.", OFFICIAL_POSE), folder / "pose.pth")


@pytest.mark.slow
def test_official_layout_imports_and_reproduces_outputs_exactly(tmp_path: Path) -> None:
    original = _our_task()
    folder = tmp_path / "mono_96x64"
    _write_official(original, folder, use_stereo=False, pose=True)
    assert sorted(torch.load(folder / "depth.pth", weights_only=True))[:2] == [
        "decoder.0.conv.conv.bias", "decoder.0.conv.conv.weight"]

    output = tmp_path / "imported.pt"
    assert main(argparse.Namespace(folder=str(folder), output=str(output))) == 0
    cfg, task = load_task(output)
    assert (cfg.data.height, cfg.data.width, cfg.model.num_layers) == (HEIGHT, WIDTH, 18)
    assert cfg.data.frame_offsets == [0, -1, 1] and not cfg.data.use_stereo

    torch.manual_seed(0)
    image = torch.rand(2, 3, HEIGHT, WIDTH)
    later = torch.rand(2, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        assert torch.equal(task.depth_model()(image), original.depth_model()(image))
        for a, b in zip(task.depth_net(image).values(), original.depth_net(image).values(),
                        strict=True):
            assert torch.equal(a, b)
        for a, b in zip(task.pose_net(image, later), original.pose_net(image, later), strict=True):
            assert torch.equal(a, b)


def test_stereo_model_without_pose_files_or_bn_counters_imports(tmp_path: Path) -> None:
    original = _our_task(use_stereo=True, pose=False)
    _write_official(original, tmp_path / "stereo", use_stereo=True, pose=False)
    # Old files (before PyTorch 0.4.1) have no batch-norm step counters: still importable.
    encoder = torch.load(tmp_path / "stereo" / "encoder.pth", weights_only=True)
    counters = [key for key in encoder if key.endswith("num_batches_tracked")]
    assert counters
    torch.save({k: v for k, v in encoder.items() if k not in counters},
               tmp_path / "stereo" / "encoder.pth")
    cfg, task, info = import_monodepth2(tmp_path / "stereo")
    assert cfg.data.use_stereo and cfg.data.frame_offsets == [0] and task.pose_net is None
    assert info["use_stereo"] and not info["pose"]
    image = torch.rand(1, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        assert torch.equal(task.depth_model()(image), original.depth_model()(image))


def test_missing_file_and_key_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    _write_official(_our_task(), folder, use_stereo=False, pose=True)
    (folder / "pose.pth").unlink()
    with pytest.raises(WeightsImportError, match=r"only part of the pose network.*pose\.pth"):
        import_monodepth2(folder)
    (folder / "pose_encoder.pth").unlink()
    with pytest.raises(WeightsImportError, match="use_stereo is false"):
        import_monodepth2(folder)

    (folder / "depth.pth").rename(folder / "depth.bak")
    with pytest.raises(WeightsImportError, match=r"broken lacks depth\.pth"):
        import_monodepth2(folder)
    (folder / "depth.bak").rename(folder / "depth.pth")
    encoder = torch.load(folder / "encoder.pth", weights_only=True)
    del encoder["height"]
    torch.save(encoder, folder / "encoder.pth")
    with pytest.raises(WeightsImportError, match=r"encoder\.pth lacks \['height'\]"):
        import_monodepth2(folder)


def test_swapped_decoder_blocks_are_reported_as_shape_mismatches(tmp_path: Path) -> None:
    folder = tmp_path / "swapped"
    _write_official(_our_task(), folder, use_stereo=False, pose=True)
    depth = torch.load(folder / "depth.pth", weights_only=True)
    # upconv(1, 0) and upconv(1, 1): 64 -> 32 and 32 + 64 -> 32 channels. (At levels 4..2 both
    # blocks happen to have equal shapes; only the output comparison above catches those.)
    for suffix in ("weight", "bias"):
        key0, key1 = f"decoder.6.conv.conv.{suffix}", f"decoder.7.conv.conv.{suffix}"
        depth[key0], depth[key1] = depth[key1], depth[key0]
    torch.save(depth, folder / "depth.pth")
    with pytest.raises(WeightsImportError, match=r"shape mismatch.*levels\.3\.fuse"):
        import_monodepth2(folder)
