"""Lanczos resampling against PIL itself, the library the Monodepth2 reference resizes with."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from training.resample import lanczos_pyramid, lanczos_resize, lanczos_weights


def _pil_float_resize(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H x W float32 -> h x w with PIL's Lanczos on a 32-bit float image, size = (h, w)."""
    return np.asarray(Image.fromarray(channel, mode="F").resize(size[::-1], Image.LANCZOS))


@pytest.mark.parametrize(("in_size", "out_size"), [((64, 192), (32, 96)), ((128, 416), (64, 128)),
                                                   ((40, 60), (40, 90))])
def test_resize_equals_pil_lanczos_on_float_images(in_size: tuple[int, int],
                                                   out_size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 1.0, size=(2, 3, *in_size)).astype(np.float32)
    ours = lanczos_resize(torch.from_numpy(image), out_size).numpy()
    assert ours.shape == (2, 3, *out_size)
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(ours[n, c], _pil_float_resize(image[n, c], out_size),
                                       atol=2e-6)
    # A bilinear antialiased resize is a different filter: the comparison above can fail.
    bilinear = torch.nn.functional.interpolate(torch.from_numpy(image), size=out_size,
                                               mode="bilinear", antialias=True)
    assert np.abs(bilinear.numpy() - ours).max() > 1e-2


def test_weights_are_normalised_and_reject_empty_sizes() -> None:
    weights = lanczos_weights(96, 48)
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-12)
    assert (weights[0, 7:] == 0).all()  # 3 lobes x factor 2 = 6 source pixels each side
    with pytest.raises(ValueError, match="resize 0 -> 4 pixels"):
        lanczos_weights(0, 4)


def test_pyramid_matches_the_reference_8_bit_pil_chain() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(64, 128, 3), dtype=np.uint8)
    sizes = [(64, 128), (32, 64), (16, 32), (8, 16)]
    tensor = torch.from_numpy(rgb.transpose(2, 0, 1)[None] / 255.0).float()
    levels = lanczos_pyramid(tensor, sizes)
    assert levels[0] is tensor and [tuple(level.shape[-2:]) for level in levels] == sizes
    image = Image.fromarray(rgb)
    for size, level in zip(sizes[1:], levels[1:], strict=True):
        image = image.resize(size[::-1], Image.LANCZOS)  # each scale from the one above
        reference = np.asarray(image).transpose(2, 0, 1) / 255.0
        # PIL rounds every pass to 8 bits; the float pyramid does not.
        assert np.abs(level[0].numpy() - reference).max() < 1.5 / 255
        assert np.abs(level[0].numpy() - reference).mean() < 0.4 / 255
