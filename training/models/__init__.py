"""Monodepth2 networks: ResNet encoder, depth and pose decoders, and the two full networks."""

from training.models.depth_decoder import DepthDecoder
from training.models.depth_net import DepthNet, DepthPredictor
from training.models.pose_decoder import PoseDecoder
from training.models.pose_net import PoseNet
from training.models.resnet_encoder import ResnetEncoder, load_imagenet_weights

__all__ = [
    "DepthDecoder",
    "DepthNet",
    "DepthPredictor",
    "PoseDecoder",
    "PoseNet",
    "ResnetEncoder",
    "load_imagenet_weights",
]
