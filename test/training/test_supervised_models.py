"""Zheng et al.'s four networks: shapes, the baseline's fully connected head, size checks, frozen
encoders, and ImageNet weights read only from local files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from training.config import ModelConfig
from training.models.supervised import (
    MultiScaleEigen,
    ResnetBaseline,
    ResnetTrunk,
    SemanticFPN,
    UNet,
    architecture_label,
    build_supervised_network,
)

HEIGHT, WIDTH = 64, 96


@pytest.mark.parametrize(
    ("architecture", "label"),
    [("unet", "unet-resnet18"), ("fpn", "fpn-resnet18"),
     ("resnet_baseline", "resnet_baseline-resnet18"), ("multiscale", "multiscale")],
)
def test_networks_map_images_to_full_size_depth_logits(architecture: str, label: str) -> None:
    model = ModelConfig(architecture=architecture, weights_init="scratch", num_layers=18,
                        fpn_backbone="resnet18", dropout=0.1)
    torch.manual_seed(0)
    network = build_supervised_network(model, HEIGHT, WIDTH).eval()
    with torch.no_grad():
        out = network(torch.randn(2, 3, HEIGHT, WIDTH))
    assert out.shape == (2, 1, HEIGHT, WIDTH)
    assert torch.isfinite(out).all()
    assert architecture_label(model) == label


def test_baseline_head_has_the_paper_widths() -> None:
    baseline = ResnetBaseline(HEIGHT, WIDTH, freeze_encoder=True)
    linears = [m for m in baseline.head if isinstance(m, torch.nn.Linear)]
    widths = [layer.out_features for layer in linears]
    assert widths == [512, 512, 128, 4800, (HEIGHT // 4) * (WIDTH // 2)]
    assert linears[0].in_features == 512
    relus = [m for m in baseline.head if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 4  # between the layers, none after the last
    # At the paper's 480 x 640 the map is 120 x 320 = the paper's 38400 outputs.
    assert 480 // 4 * (640 // 2) == 38400


def test_fixed_size_networks_name_the_size_they_expect() -> None:
    baseline = ResnetBaseline(HEIGHT, WIDTH)
    with pytest.raises(ValueError, match=r"built for 64x96 input .* got 32x96"):
        baseline(torch.zeros(1, 3, 32, WIDTH))
    eigen = MultiScaleEigen(HEIGHT, WIDTH)
    with pytest.raises(ValueError, match="built for 64x96 input"):
        eigen(torch.zeros(1, 3, HEIGHT, 64))
    with pytest.raises(ValueError, match="multiples of 8"):
        MultiScaleEigen(60, WIDTH)
    with pytest.raises(ValueError, match="num_layers=20"):
        UNet(num_layers=20)
    with pytest.raises(ValueError, match="encoder 'vgg16'"):
        SemanticFPN(backbone="vgg16")


def test_multiscale_coarse_map_feeds_the_fine_network() -> None:
    torch.manual_seed(0)
    eigen = MultiScaleEigen(HEIGHT, WIDTH).eval()
    image = torch.randn(1, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        coarse = eigen.coarse(image)
        before = eigen(image)
        eigen.coarse_fc[-1].bias.add_(1.0)  # change only the global branch
        after = eigen(image)
    assert coarse.shape == (1, 1, HEIGHT, WIDTH)
    assert not torch.allclose(before, after)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in eigen.fine_out.modules())


def test_frozen_encoder_gets_no_gradient_and_keeps_its_statistics() -> None:
    torch.manual_seed(0)
    unet = UNet(num_layers=18, freeze_encoder=True, dropout=0.2).train()
    assert not unet.encoder.training and unet.decoder.training
    stats = unet.encoder.net.bn1.running_mean.clone()
    unet(torch.randn(2, 3, HEIGHT, WIDTH)).mean().backward()
    assert all(p.grad is None for p in unet.encoder.parameters())
    assert all(p.grad is not None for p in unet.decoder.parameters())
    torch.testing.assert_close(unet.encoder.net.bn1.running_mean, stats)


def test_imagenet_weights_come_from_a_local_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(reference.state_dict(), path)
    trunk = ResnetTrunk("resnet18", pretrained=True, pretrained_path=str(path))
    torch.testing.assert_close(trunk.net.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    assert not hasattr(trunk.net, "fc")
    missing = str(tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match=r"missing\.pth"):
        ResnetTrunk("resnext50_32x4d", pretrained=True, pretrained_path=missing)
    # Every trunk reads its file through the Monodepth2 encoder's reader, which wants a state dict.
    not_weights = tmp_path / "resnext50_32x4d-list.pth"
    torch.save([1, 2], not_weights)
    with pytest.raises(ValueError, match=r"resnext50_32x4d-list\.pth holds a list"):
        ResnetTrunk("resnext50_32x4d", pretrained=True, pretrained_path=str(not_weights))


def test_missing_hub_weights_fail_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"resnext50_32x4d-\*\.pth"):
        SemanticFPN(backbone="resnext50_32x4d", pretrained=True)
    with pytest.raises(FileNotFoundError, match="ResNet-18"):
        ResnetBaseline(HEIGHT, WIDTH, pretrained=True)
