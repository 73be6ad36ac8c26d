"""Monodepth2 networks: shapes, reference layer layout, ImageNet weights (offline), export."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import onnxruntime
import pytest
import torch
import torchvision

from training.geometry import disp_to_depth
from training.models import (
    DepthDecoder,
    DepthNet,
    DepthPredictor,
    PoseDecoder,
    PoseNet,
    ResnetEncoder,
    load_imagenet_weights,
)
from training.models.resnet_encoder import IMAGENET_WEIGHT_FILES

HEIGHT, WIDTH = 64, 192


@pytest.fixture(scope="module")
def imagenet_resnet18() -> dict[str, torch.Tensor]:
    """A stand-in for torchvision's ImageNet file: a full ResNet-18 state dict (with fc)."""
    torch.manual_seed(123)
    return torchvision.models.resnet18(weights=None).state_dict()


def test_encoder_features_channels_strides_and_keys():
    encoder = ResnetEncoder(18).eval()
    assert encoder.num_ch_enc == (64, 64, 128, 256, 512)
    features = encoder(torch.rand(2, 3, HEIGHT, WIDTH))
    assert [f.shape[1] for f in features] == list(encoder.num_ch_enc)
    assert [f.shape[-2:] for f in features] == [
        (HEIGHT // 2**k, WIDTH // 2**k) for k in range(1, 6)
    ]
    keys = set(encoder.state_dict())
    assert {"encoder.conv1.weight", "encoder.bn1.running_mean",
            "encoder.layer1.0.conv1.weight", "encoder.layer4.1.bn2.weight"} <= keys
    assert not any(k.startswith(("encoder.fc", "encoder.avgpool")) for k in keys)
    assert ResnetEncoder(50).num_ch_enc == (64, 256, 512, 1024, 2048)
    with pytest.raises(ValueError, match="num_layers=19"):
        ResnetEncoder(19)


def test_encoder_normalises_its_input():
    encoder = ResnetEncoder(18).eval()
    image = torch.rand(1, 3, HEIGHT, WIDTH)
    net = encoder.encoder
    expected = net.relu(net.bn1(net.conv1((image - 0.45) / 0.225)))
    assert torch.allclose(encoder(image)[0], expected)


def test_pretrained_weights_from_the_torch_hub_cache(tmp_path, monkeypatch, imagenet_resnet18):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    with pytest.raises(FileNotFoundError, match=re.escape(str(cache / IMAGENET_WEIGHT_FILES[18]))):
        ResnetEncoder(18, pretrained=True)
    cache.mkdir(parents=True)
    torch.save(imagenet_resnet18, cache / IMAGENET_WEIGHT_FILES[18])

    encoder = ResnetEncoder(18, pretrained=True)
    for key in ("conv1.weight", "layer1.0.conv1.weight", "layer4.1.bn2.running_var"):
        assert torch.equal(encoder.encoder.state_dict()[key], imagenet_resnet18[key])

    # Pose encoder: conv1 sees 2 stacked images, each with half the ImageNet filter.
    pose_encoder = ResnetEncoder(18, pretrained=True, num_input_images=2)
    conv1 = pose_encoder.encoder.conv1.weight
    assert conv1.shape == (64, 6, 7, 7)
    half = imagenet_resnet18["conv1.weight"] / 2
    assert torch.allclose(conv1, torch.cat([half, half], 1))
    assert torch.equal(pose_encoder.encoder.state_dict()["layer2.0.conv2.weight"],
                       imagenet_resnet18["layer2.0.conv2.weight"])


def test_pretrained_weights_from_a_given_file(tmp_path, imagenet_resnet18):
    path = tmp_path / "my_resnet18.pth"
    with pytest.raises(FileNotFoundError, match=r"my_resnet18\.pth"):
        load_imagenet_weights(18, path)
    torch.save(imagenet_resnet18, path)
    net = DepthNet(18, pretrained=True, pretrained_path=path)
    assert torch.equal(net.state_dict()["encoder.encoder.layer3.1.conv1.weight"],
                       imagenet_resnet18["layer3.1.conv1.weight"])
    pose = PoseNet(18, pretrained=True, pretrained_path=path)
    assert torch.allclose(pose.encoder.encoder.conv1.weight[:, 3:],
                          imagenet_resnet18["conv1.weight"] / 2)
    with pytest.raises(ValueError, match="do not fit ResNet-34"):
        ResnetEncoder(34, pretrained=True, pretrained_path=path)


def test_scratch_weights_need_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    a, b = ResnetEncoder(18, num_input_images=2), ResnetEncoder(18, num_input_images=2)
    assert a.encoder.conv1.weight.shape == (64, 6, 7, 7)
    assert not torch.equal(a.encoder.conv1.weight, b.encoder.conv1.weight)
    assert 0.01 < a.encoder.conv1.weight.std() < 0.1  # He-initialised, not the nn.Conv2d default


def test_depth_decoder_outputs_and_reference_layout():
    encoder = ResnetEncoder(18)
    decoder = DepthDecoder(encoder.num_ch_enc)
    disps = decoder(encoder(torch.rand(2, 3, HEIGHT, WIDTH)))
    assert sorted(disps) == [0, 1, 2, 3]
    for scale, disp in disps.items():
        assert disp.shape == (2, 1, HEIGHT // 2**scale, WIDTH // 2**scale)
        assert disp.min() > 0 and disp.max() < 1
    assert decoder(encoder(torch.rand(1, 3, HEIGHT, WIDTH)), scales=(0,)).keys() == {0}

    # Published key decoder.<k>.<rest> -> <prefix[k]>.<rest>, with the published shapes.
    state = decoder.state_dict()
    prefixes = decoder.reference_prefixes()
    published_shapes = [
        (256, 512), (256, 512), (128, 256), (128, 256), (64, 128),
        (64, 128), (32, 64), (32, 96), (16, 32), (16, 16),
        (1, 16), (1, 32), (1, 64), (1, 128),
    ]
    assert len(prefixes) == len(published_shapes)
    for k, (prefix, (out_ch, in_ch)) in enumerate(zip(prefixes, published_shapes, strict=True)):
        rest = "conv.conv" if k < 10 else "conv"
        assert state[f"{prefix}.{rest}.weight"].shape == (out_ch, in_ch, 3, 3), k
        assert state[f"{prefix}.{rest}.bias"].shape == (out_ch,)
    assert len(state) == 2 * len(prefixes)


def test_pose_decoder_layout_scaling_and_split():
    num_ch_enc = (64, 64, 128, 256, 512)
    decoder = PoseDecoder(num_ch_enc, num_input_features=1, num_frames_to_predict_for=2)
    published_shapes = [(256, 512, 1, 1), (256, 256, 3, 3), (256, 256, 3, 3), (12, 256, 1, 1)]
    for name, shape in zip(PoseDecoder.REFERENCE_NAMES, published_shapes, strict=True):
        assert getattr(decoder, name).weight.shape == shape
    with torch.no_grad():
        decoder.pose2.weight.zero_()
        decoder.pose2.bias.copy_(torch.arange(12.0))
    features = [torch.rand(3, c, 2, 6) for c in num_ch_enc]
    axisangle, translation = decoder([features])
    assert axisangle.shape == translation.shape == (3, 2, 1, 3)
    assert torch.allclose(axisangle[0, 0, 0], 0.01 * torch.tensor([0.0, 1, 2]))
    assert torch.allclose(translation[0, 0, 0], 0.01 * torch.tensor([3.0, 4, 5]))
    assert torch.allclose(axisangle[2, 1, 0], 0.01 * torch.tensor([6.0, 7, 8]))
    assert torch.allclose(translation[2, 1, 0], 0.01 * torch.tensor([9.0, 10, 11]))


def test_pose_net_outputs_and_frame_order_matters():
    torch.manual_seed(0)
    pose = PoseNet(18).eval()
    earlier, later = torch.rand(2, 3, HEIGHT, WIDTH), torch.rand(2, 3, HEIGHT, WIDTH)
    axisangle, translation = pose(earlier, later)
    assert axisangle.shape == translation.shape == (2, 3)
    swapped, _ = pose(later, earlier)
    assert not torch.allclose(axisangle, swapped)


def test_depth_net_prediction_and_input_check():
    net = DepthNet(18, min_depth=0.1, max_depth=100.0).eval()
    image = torch.rand(2, 3, HEIGHT, WIDTH)
    depth = net.predict_depth(image)
    assert depth.shape == (2, 1, HEIGHT, WIDTH)
    assert torch.allclose(depth, disp_to_depth(net(image)[0], 0.1, 100.0)[1])
    assert depth.min() >= 0.1 and depth.max() <= 100.0
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.rand(1, 3, 60, 192))
    with pytest.raises(ValueError, match="must include 0"):
        DepthNet(18, scales=(1, 2))


def test_depth_predictor_exports_to_onnx_without_trace_warnings():
    net = DepthNet(18).eval()
    model = DepthPredictor(net)
    assert not model.training and next(model.parameters()) is next(net.parameters())
    image = torch.rand(1, 3, HEIGHT, WIDTH)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own deprecation notes
        warnings.simplefilter("error", torch.jit.TracerWarning)  # Python-side values in the trace
        torch.onnx.export(model, (image,), buffer, dynamo=False, input_names=["image"],
                          output_names=["depth"])
    assert not net.training  # exporting left the network in eval mode
    session = onnxruntime.InferenceSession(buffer.getvalue(),
                                           providers=["CPUExecutionProvider"])
    other = torch.rand(1, 3, HEIGHT, WIDTH)  # not the example input: the graph generalises
    (onnx_depth,) = session.run(None, {"image": other.numpy()})
    assert onnx_depth.shape == (1, 1, HEIGHT, WIDTH)
    assert torch.allclose(torch.from_numpy(onnx_depth), model(other), rtol=1e-4)


def test_missing_cache_error_lists_the_expected_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        load_imagenet_weights(50)
    assert str(Path(tmp_path) / "hub" / "checkpoints" / "resnet50-0676ba61.pth") in str(error.value)
