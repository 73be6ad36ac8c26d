"""Synthetic image sequences with exact ground truth, for tests, the demo and quick experiments.

    python -m training generate --kind outdoor --out data/synthetic_outdoor
    python -m training generate --kind indoor --out data/synthetic_indoor --sequences 2 --frames 200

Scenes are procedural and ray cast analytically (numpy + OpenCV only, deterministic from the
seed): outdoors a street (textured road 1.65 m below the camera, building blocks, parked cars,
poles, a textured sky) seen from a car driving forward ~0.6-1 m per frame with a slight yaw, plus
the right camera 0.54 m to the right; indoors a furnished room seen from a slowly moving, panning
hand-held Kinect. Textures are functions of world coordinates (band-limited value-noise fractals,
box-filtered patterns), so a surface looks the same from every frame: exactly what the
photometric loss assumes. Lighting is fixed and diffuse for the same reason.

Outdoor writes the KITTI raw layout (training/datasets/kitti.py) with calibration files in the
KITTI text format, velodyne scans, dense ground truth, frame timestamps (10 Hz) and the vehicle's
odometry (20 Hz, noisy, with gaps; see OdometryNoise); indoor writes the NYU layout
(training/datasets/nyu.py). Both write `poses.txt` per sequence and
`splits/{train,val,test}_files.txt`.
The test split is held out: the last sequence (or, with one sequence, its last fifth); val is the
last tenth of each remaining sequence. Split targets skip the first and last frame of a sequence,
so frame offsets -1 and +1 always exist.

Frames and conventions (metres, right-handed):
    camera optical  x right, y down, z forward; depth = z; pixel column u has its centre at x = u
                    (Monodepth2's convention), so a point X projects to K @ X / z exactly.
    world           camera axes at the start of the sequence (y down). Outdoors the road is the
                    plane y = +1.65; indoors the floor is y = +camera height.
    poses.txt       per frame the 4 x 4 camera-to-world matrix of the left camera (image_02 /
                    the Kinect), first 3 rows, 12 numbers row-major per line.
    velodyne        x forward, y left, z up; 0.08 m above and 0.27 m behind camera 0 as in KITTI.
    vehicle (IMU)   x forward, y left, z up; KITTI's IMU-to-velodyne offset (calib_imu_to_velo).
    odometry.txt    per sample the stamp (s) and the vehicle's pose in the odometry frame (the
                    vehicle at frame 0), training/datasets/odometry.py's format.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from training.datasets import KINECT_NORMALIZED_K, KITTI_NORMALIZED_K, NormalizedIntrinsics
from training.datasets.odometry import ODOMETRY_FILE, OdometryTrack, interpolate, write_odometry
from training.kitti_depth import load_velodyne_points

CAMERA_HEIGHT = 1.65  # metres from the outdoor camera down to the road (KITTI's rig)
STEREO_BASELINE = 0.54  # metres from the left (image_02) to the right (image_03) camera
OUTDOOR_DATE = "2000_01_01"  # the KITTI "date" folder of generated drives (clearly not real)
INDOOR_SCENE = "synthetic_room_{:04d}"
DEFAULTS = {  # kind -> (sequences, frames, width, height)
    "outdoor": (3, 100, 416, 128),
    "indoor": (3, 100, 320, 240),
}
LIDAR_MAX_RANGE = 120.0  # metres, the HDL-64E's reach; farther surfaces give no return
# HDL-64E beam elevations in degrees: upper block +2..-8.33, lower block -8.83..-24.33.
LIDAR_ELEVATIONS = np.concatenate([np.linspace(2.0, -8.33, 32), np.linspace(-8.83, -24.33, 32)])

# KITTI-like rig in the rectified camera-0 frame: camera centres (x right) and calibration.
CAMERA_CENTRES = {
    0: (0.0, 0.0, 0.0), 1: (0.54, 0.0, 0.0), 2: (-0.06, 0.0, 0.0), 3: (0.48, 0.0, 0.0)
}
R_RECT_00 = cv2.Rodrigues(np.array([0.0021, -0.0043, 0.0012]))[0]  # ~0.3 deg, like KITTI's
VELO_TO_CAM_R = cv2.Rodrigues(np.array([-0.0015, 0.0032, 0.0009]))[0] @ np.array(
    [[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]  # x fwd, y left, z up -> optical
)
VELO_TO_CAM_T = np.array([0.0, -0.08, -0.27])  # velodyne origin in camera-0 coordinates
# The vehicle's base (KITTI's IMU: x fwd, y left, z up) in velodyne coordinates, as in KITTI.
IMU_TO_VELO_R = cv2.Rodrigues(np.array([0.0008, -0.0012, 0.0005]))[0]
IMU_TO_VELO_T = np.array([-0.81, 0.32, -0.80])
FRAME_RATE = 10.0  # Hz, the camera (KITTI's)
ODOMETRY_RATE = 20.0  # Hz, the vehicle's odometry; samples fall on frames and halfway between
OUTDOOR_EPOCH = "2000-01-01 00:00:00"  # time of frame 0 of every drive (seconds 946684800)
OUTDOOR_EPOCH_SECONDS = 946684800.0

# Materials (Scene.material); the ground plane is ROAD, a ROOM box is floor, walls and ceiling.
ROAD, FACADE, CAR, POLE, ROOM, FURNITURE, POSTER = range(7)
GROUND, SKY = -2, -1  # special hit targets besides box indices

FACADE_COLOURS = [(0.62, 0.33, 0.25), (0.80, 0.74, 0.62), (0.55, 0.55, 0.57), (0.85, 0.83, 0.78),
                  (0.72, 0.56, 0.33), (0.45, 0.50, 0.58)]
CAR_COLOURS = [(0.70, 0.10, 0.10), (0.10, 0.20, 0.60), (0.85, 0.85, 0.85), (0.12, 0.12, 0.12),
               (0.50, 0.50, 0.52), (0.20, 0.45, 0.25), (0.80, 0.60, 0.10)]
WOOD_COLOURS = [(0.55, 0.38, 0.22), (0.75, 0.60, 0.42), (0.35, 0.22, 0.14), (0.85, 0.85, 0.82),
                (0.30, 0.32, 0.36), (0.60, 0.20, 0.18)]
WALL_COLOURS = [(0.86, 0.82, 0.72), (0.70, 0.78, 0.80), (0.80, 0.70, 0.62), (0.78, 0.80, 0.70)]


# Scenes ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scene:
    """Axis-aligned boxes (world frame, metres) plus an optional infinite ground plane."""

    lo: np.ndarray  # B x 3 minimum corners
    hi: np.ndarray  # B x 3 maximum corners
    material: np.ndarray  # B material codes
    colour: np.ndarray  # B x 3 base RGB in [0, 1]
    floor_y: float  # world y of the ground (outdoor road plane or indoor floor), y down
    has_ground_plane: bool  # outdoors: rays below the horizon end on the road plane
    seed: int  # texture seed


class _SceneBuilder:
    def __init__(self) -> None:
        self.boxes: list[tuple[tuple[float, ...], tuple[float, ...], int, tuple[float, ...]]] = []

    def add(self, lo: tuple[float, ...], hi: tuple[float, ...], material: int,
            colour: tuple[float, ...]) -> None:
        self.boxes.append((lo, hi, material, colour))

    def build(self, floor_y: float, has_ground_plane: bool, seed: int) -> Scene:
        lo, hi, material, colour = zip(*self.boxes, strict=True)
        return Scene(np.array(lo, np.float32), np.array(hi, np.float32), np.array(material),
                     np.array(colour, np.float32), floor_y, has_ground_plane, seed)


def _tinted(rng: np.random.Generator, palette: list[tuple[float, float, float]]) -> tuple:
    base = np.array(palette[rng.integers(len(palette))])
    return tuple(np.clip(base * rng.uniform(0.85, 1.15, 3), 0.02, 1.0))


def outdoor_scene(rng: np.random.Generator, z_start: float, z_end: float) -> Scene:
    """A street along world +z: building blocks, parked and stopped cars, poles."""
    scene, ground = _SceneBuilder(), CAMERA_HEIGHT
    for side in (-1.0, 1.0):
        z = z_start - 40.0
        while z < z_end + 80.0:  # building blocks with alleys between some of them
            length, setback = rng.uniform(8.0, 25.0), rng.uniform(7.5, 11.0)
            height = rng.uniform(6.0, 22.0)
            xs = sorted((side * setback, side * (setback + 10.0)))
            scene.add((xs[0], ground - height, z), (xs[1], ground, z + length), FACADE,
                      _tinted(rng, FACADE_COLOURS))
            z += length + (rng.uniform(2.0, 6.0) if rng.random() < 0.4 else 0.0)
        z = z_start + rng.uniform(-10.0, 5.0)
        while z < z_end + 40.0:  # parked cars along both kerbs
            if rng.random() < 0.6:
                x = side * rng.uniform(4.25, 4.45)
                scene.add((x - 0.9, ground - 1.45, z), (x + 0.9, ground, z + 4.3), CAR,
                          _tinted(rng, CAR_COLOURS))
            z += rng.uniform(6.0, 14.0)
        z = z_start + rng.uniform(0.0, 10.0)
        while z < z_end + 40.0:  # street-light poles on the pavement
            x = side * 6.2
            scene.add((x - 0.09, ground - 5.5, z), (x + 0.09, ground, z + 0.18), POLE,
                      (0.45, 0.46, 0.48))
            z += rng.uniform(12.0, 25.0)
    z = z_start + rng.uniform(15.0, 40.0)
    while z < z_end + 50.0:  # stopped cars in the oncoming lane
        x = -rng.uniform(1.3, 2.2)
        scene.add((x - 0.9, ground - 1.5, z), (x + 0.9, ground, z + 4.5), CAR,
                  _tinted(rng, CAR_COLOURS))
        z += rng.uniform(25.0, 60.0)
    return scene.build(ground, True, int(rng.integers(2**31)))


def indoor_scene(rng: np.random.Generator) -> tuple[Scene, float]:
    """A furnished room around the world origin; returns it and its clear radius (metres)."""
    width, depth, height = rng.uniform(4.5, 6.5), rng.uniform(5.5, 8.0), rng.uniform(2.5, 3.0)
    floor = rng.uniform(1.2, 1.5)  # camera height above the floor
    ceiling, hx, hz = floor - height, width / 2.0, depth / 2.0
    scene = _SceneBuilder()
    scene.add((-hx, ceiling, -hz), (hx, floor, hz), ROOM, _tinted(rng, WALL_COLOURS))
    # Walls as (axis along the wall, fixed coordinate, inward direction, wall length).
    walls = [(0, -hz, 1.0, width), (0, hz, -1.0, width), (2, -hx, 1.0, depth), (2, hx, -1.0, depth)]
    for along, fixed, inward, length in walls:
        position = -length / 2.0 + rng.uniform(0.1, 0.6)
        while position < length / 2.0 - 0.7:  # furniture against the wall, up to 0.6 m deep
            size = rng.uniform(0.6, 1.8)
            end = min(position + size, length / 2.0 - 0.05)
            if rng.random() < 0.75:
                reach, tall = rng.uniform(0.35, 0.6), rng.uniform(0.4, 2.0)
                corners = _against_wall(along, fixed, inward, position, end, 0.02, reach,
                                        floor - tall, floor)
                scene.add(*corners, FURNITURE, _tinted(rng, WOOD_COLOURS))
            position = end + rng.uniform(0.1, 0.8)
        for _ in range(rng.integers(1, 4)):  # posters and paintings, 1 cm thick
            start = rng.uniform(-length / 2.0 + 0.2, length / 2.0 - 1.6)
            top = floor - rng.uniform(1.5, 2.1)
            scene.add(*_against_wall(along, fixed, inward, start, start + rng.uniform(0.5, 1.4),
                                     0.0, 0.01, top, top + rng.uniform(0.4, 0.9)),
                      POSTER, (1.0, 1.0, 1.0))
    return scene.build(floor, False, int(rng.integers(2**31))), min(hx, hz) - 0.65


def _against_wall(along: int, fixed: float, inward: float, start: float, end: float,
                  gap: float, reach: float, top: float, bottom: float) -> tuple[tuple, tuple]:
    """Corners of a box on a wall: [start, end] along it, `reach` metres into the room."""
    near, far = fixed + inward * gap, fixed + inward * (gap + reach)
    across = (min(near, far), max(near, far))
    if along == 0:  # wall at constant z
        return (start, top, across[0]), (end, bottom, across[1])
    return (across[0], top, start), (across[1], bottom, end)


# Trajectories ---------------------------------------------------------------------------------

def _pose(position: np.ndarray, yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """4 x 4 camera-to-world: yaw about world y (down; + turns right), then pitch (+ up), roll."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    r_yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, :3] = r_yaw @ r_pitch @ r_roll
    pose[:3, 3] = position
    return pose


def outdoor_trajectory(rng: np.random.Generator, frames: int) -> list[np.ndarray]:
    """Driving in the right lane: 0.6-1 m per frame, yaw swaying by 1-3 degrees."""
    speed, amplitude = rng.uniform(0.6, 1.0), math.radians(rng.uniform(1.0, 3.0))
    period, phase = rng.uniform(30.0, 60.0), rng.uniform(0.0, 2.0 * math.pi)
    position, poses = np.array([1.75, 0.0, 0.0]), []
    for k in range(frames):
        yaw = amplitude * math.sin(2.0 * math.pi * k / period + phase)
        poses.append(_pose(position.copy(), yaw))
        position += speed * np.array([math.sin(yaw), 0.0, math.cos(yaw)])
    return poses


def indoor_trajectory(rng: np.random.Generator, frames: int, radius: float) -> list[np.ndarray]:
    """Hand-held: a slow loop (~8 cm per frame) inside `radius`, panning and tilting gently."""
    loop = rng.uniform(0.3, max(0.31, min(0.7, radius)))
    step, phase = 0.08 / loop, rng.uniform(0.0, 2.0 * math.pi)
    yaw0, pan = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(0.004, 0.012)
    poses = []
    for k in range(frames):
        angle = phase + step * k
        position = np.array([loop * math.sin(angle), 0.05 * math.sin(k / 23.0),
                             -loop * math.cos(angle)])
        yaw = yaw0 + pan * k + 0.5 * math.sin(k / 40.0)
        pitch = -0.1 + 0.08 * math.sin(k / 31.0)
        poses.append(_pose(position, yaw, pitch, 0.03 * math.sin(k / 17.0)))
    return poses


# Ray casting ----------------------------------------------------------------------------------

_CORNERS = np.array(list(itertools.product((0, 1), repeat=3)), bool)  # 8 x 3 lo/hi selectors


def render_view(scene: Scene, cam_to_world: np.ndarray, k: np.ndarray, width: int,
                height: int) -> tuple[np.ndarray, np.ndarray]:
    """Image and depth of `scene` from a camera: (H x W x 3 uint8 RGB, H x W float32 metres).

    `k` is the 3 x 3 pixel intrinsics. Depth is z in the camera optical frame, 0 where the ray
    meets nothing (sky).
    """
    rotation, origin = cam_to_world[:3, :3], cam_to_world[:3, 3]
    # World-frame directions, 3 x H x W, with camera z = 1: the ray parameter t is the depth.
    x = ((np.arange(width) - k[0, 2]) / k[0, 0]).astype(np.float32)[None, None, :]
    y = ((np.arange(height) - k[1, 2]) / k[1, 1]).astype(np.float32)[None, :, None]
    columns = rotation.astype(np.float32)[:, :, None, None]  # camera axes in the world frame
    directions = columns[:, 0] * x + columns[:, 1] * y + columns[:, 2]
    t, target = _cast(scene, origin, directions, rotation, k)
    t, target, directions = t.ravel(), target.ravel(), directions.reshape(3, -1)
    focal = 0.5 * (k[0, 0] + k[1, 1])
    colour = np.empty((t.size, 3), np.float32)
    sky, hit = np.flatnonzero(target == SKY), np.flatnonzero(target != SKY)
    if sky.size:
        colour[sky] = _sky_colour(directions.take(sky, axis=1), focal)
    colour[hit] = _surface_colour(scene, origin, directions.take(hit, axis=1), t.take(hit),
                                  target.take(hit), focal)
    rgb = np.clip(np.rint(colour * 255.0), 0, 255).astype(np.uint8).reshape(height, width, 3)
    t[sky] = 0.0
    return rgb, t.reshape(height, width)


def _cast(scene: Scene, origin: np.ndarray, directions: np.ndarray, rotation: np.ndarray,
          k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit per pixel: ray parameter t (H x W) and target (box index, GROUND or SKY)."""
    height, width = directions.shape[1:]
    t = np.full((height, width), np.inf, np.float32)
    target = np.full((height, width), SKY, np.int32)
    if scene.has_ground_plane:  # the road: y = floor_y, hit by rays going down
        down = directions[1]
        with np.errstate(divide="ignore"):
            t_ground = np.float32(scene.floor_y - origin[1]) / down
        below = down > 1e-9
        t[below], target[below] = t_ground[below], GROUND
    safe = np.where(np.abs(directions) < 1e-12, np.float32(1e-12), directions)
    inverse = np.float32(1.0) / safe
    lo = (scene.lo - origin).astype(np.float32)[:, :, None, None]  # B x 3 x 1 x 1, camera-relative
    hi = (scene.hi - origin).astype(np.float32)[:, :, None, None]
    for box, rows, cols in _visible_boxes(scene, origin, rotation, k, width, height):
        inv = inverse[:, rows, cols]  # slab test: where the ray enters and leaves each slab
        a, b = lo[box] * inv, hi[box] * inv
        near, far = np.minimum(a, b).max(axis=0), np.maximum(a, b).min(axis=0)
        if scene.material[box] == ROOM:  # seen from inside: the hit is where the ray leaves
            t_hit, valid = far, far > 0.0
        else:
            t_hit, valid = near, (near <= far) & (near > 1e-6)
        closer = valid & (t_hit < t[rows, cols])
        np.copyto(t[rows, cols], t_hit, where=closer)
        np.copyto(target[rows, cols], box, where=closer)
    return t, target


def _visible_boxes(scene: Scene, origin: np.ndarray, rotation: np.ndarray, k: np.ndarray,
                   width: int, height: int) -> list[tuple[int, slice, slice]]:
    """Boxes that may appear, each with the pixel rectangle its projection covers (culling)."""
    corners = np.where(_CORNERS[None], scene.hi[:, None], scene.lo[:, None])  # B x 8 x 3
    camera = (corners - origin) @ rotation  # camera frame: R^T (X - o), as row vectors
    z = camera[..., 2]
    in_front = z > 1e-3
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(in_front, k[0, 0] * camera[..., 0] / z + k[0, 2], np.nan)
        v = np.where(in_front, k[1, 1] * camera[..., 1] / z + k[1, 2], np.nan)
    visible = []
    for box in range(len(scene.lo)):
        inside = scene.material[box] == ROOM
        if inside or not in_front[box].all():  # around or beside the camera
            if inside or in_front[box].any():
                visible.append((box, slice(0, height), slice(0, width)))
            continue
        u0 = max(int(np.floor(u[box].min())) - 1, 0)
        u1 = min(int(np.ceil(u[box].max())) + 2, width)
        v0 = max(int(np.floor(v[box].min())) - 1, 0)
        v1 = min(int(np.ceil(v[box].max())) + 2, height)
        if u0 < u1 and v0 < v1:
            visible.append((box, slice(v0, v1), slice(u0, u1)))
    return visible


# Textures -------------------------------------------------------------------------------------

# Lattice values of the value noise: one fixed 256 x 256 table (fits in cache); seeds shift into it.
_LATTICE_SIZE = 256
_LATTICE = np.random.default_rng(0x5EED).random(_LATTICE_SIZE * _LATTICE_SIZE, dtype=np.float32)


def _seed_offsets(seed: np.ndarray | int) -> tuple[np.ndarray | int, np.ndarray | int]:
    """Where seed `seed` starts in the lattice table: different seeds, shifted noise."""
    return (seed * 104729) % _LATTICE_SIZE, (seed * 7919) % _LATTICE_SIZE


def _cell(x: np.ndarray, size: float) -> np.ndarray:
    """int32 index of the `size`-metre cell holding x."""
    return np.floor(x / np.float32(size)).astype(np.int32)


def _lattice_value(ix: np.ndarray, iy: np.ndarray, seed: np.ndarray | int) -> np.ndarray:
    """Uniform [0, 1) float32 per integer lattice point (int32 coordinates) and seed."""
    mask, (dx, dy) = _LATTICE_SIZE - 1, _seed_offsets(seed)
    return _LATTICE.take(((iy + dy) & mask) * _LATTICE_SIZE + ((ix + dx) & mask))


def _value_noise(x: np.ndarray, y: np.ndarray, seed: np.ndarray | int) -> np.ndarray:
    """Smooth noise in [0, 1) with one feature per unit: lattice values, eased bilinear."""
    fx, fy = np.floor(x), np.floor(y)
    tx, ty = x - fx, y - fy
    sx, sy = tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty)
    mask, (dx, dy) = _LATTICE_SIZE - 1, _seed_offsets(seed)
    ix, iy = fx.astype(np.int32) + dx, fy.astype(np.int32) + dy
    col0, col1 = ix & mask, (ix + 1) & mask
    row0, row1 = (iy & mask) * _LATTICE_SIZE, ((iy + 1) & mask) * _LATTICE_SIZE
    a, b = _LATTICE.take(row0 + col0), _LATTICE.take(row0 + col1)  # take: 4x faster than []
    c, d = _LATTICE.take(row1 + col0), _LATTICE.take(row1 + col1)
    top = a + (b - a) * sx
    return top + (c + (d - c) * sx - top) * sy


def _fbm(x: np.ndarray, y: np.ndarray, footprint: np.ndarray, seed: np.ndarray | int,
         wavelength: float, octaves: int, gain: float = 0.6) -> np.ndarray:
    """Fractal noise, zero mean, about [-0.5, 0.5], from `wavelength` metres down by octaves.

    Octaves shorter than two pixel footprints fade to their mean (band limiting), so distant
    surfaces do not alias and look the same from neighbouring frames.
    """
    total = np.zeros(x.shape, np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        length = np.float32(wavelength / 2.0**octave)
        norm += amplitude
        weight = np.clip(length / footprint - 1.0, 0.0, 1.0)
        if weight.any():  # distant pixels skip the fine octaves
            active = slice(None) if weight.all() else np.flatnonzero(weight)
            octave_seed = seed if np.isscalar(seed) else seed[active]
            noise = _value_noise(x[active] / length, y[active] / length, octave_seed + octave)
            total[active] += np.float32(amplitude) * weight[active] * (noise - 0.5)
        amplitude *= gain
    return total / np.float32(norm)


def _interval(x: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float,
              footprint: np.ndarray) -> np.ndarray:
    """Fraction of the pixel footprint [x - f/2, x + f/2] inside [lo, hi] (a box-filtered step)."""
    half = footprint / 2.0
    return (np.clip(x + half, lo, hi) - np.clip(x - half, lo, hi)) / footprint


def _pulses(x: np.ndarray, period: float, width: float, footprint: np.ndarray) -> np.ndarray:
    """Box-filtered periodic stripes [n period, n period + width): coverage of the footprint."""
    def integral(a: np.ndarray) -> np.ndarray:
        cycles = np.floor(a / np.float32(period))
        return cycles * np.float32(width) + np.minimum(a - cycles * np.float32(period), width)

    half = footprint / 2.0
    return (integral(x + half) - integral(x - half)) / footprint


@dataclass
class _Surface:
    """Hit points of one material: face coordinates and pixel footprint (metres), float32."""

    x: np.ndarray  # world point, x
    s: np.ndarray  # along the face: x on horizontal and z-facing faces, z on x-facing ones
    h: np.ndarray  # up the face (height above the floor) on vertical faces, z on horizontal ones
    footprint: np.ndarray  # size of one pixel on the surface
    box: np.ndarray  # box index (GROUND for the road plane)
    axis: np.ndarray  # axis of the face normal
    gap: np.ndarray  # 3 x n distance to the box's nearer face along each axis

    def edge(self) -> np.ndarray:
        """Coverage of a 3 cm band along the edges of the face (to draw box outlines)."""
        edge = np.zeros(self.s.shape, np.float32)
        for other in range(3):  # near an edge of the face = near another face's plane
            band = _interval(self.gap[other], -1.0, 0.03, self.footprint)
            edge = np.maximum(edge, np.where(self.axis != other, band, 0.0))
        return edge[:, None]


def _surface_colour(scene: Scene, origin: np.ndarray, directions: np.ndarray, t: np.ndarray,
                    target: np.ndarray, focal: float) -> np.ndarray:
    """n x 3 shaded colour of n hits (directions 3 x n world, ray parameters t, targets)."""
    point = origin[:, None].astype(np.float32) + t * directions  # 3 x n
    box = np.maximum(target, 0)
    gap = np.minimum(point - scene.lo.T.take(box, axis=1), scene.hi.T.take(box, axis=1) - point)
    off_face = np.abs(gap)
    axis = np.where(off_face[0] <= off_face[1], np.where(off_face[0] <= off_face[2], 0, 2),
                    np.where(off_face[1] <= off_face[2], 1, 2))
    axis = np.where(target >= 0, axis, 1)  # the ground plane faces up
    along = np.take_along_axis(directions, axis[None], axis=0)[0]
    length = np.sqrt(np.einsum("ij,ij->j", directions, directions))
    footprint = t * length / (np.float32(focal) * np.maximum(np.abs(along) / length, 0.08))
    s = np.where(axis == 0, point[2], point[0])
    h = np.where(axis == 1, point[2], np.float32(scene.floor_y) - point[1])

    material = np.where(target >= 0, scene.material.take(box), ROAD)
    floor_or_ceiling = np.where(point[1] > scene.floor_y - 0.01, ROOM_FLOOR, ROOM_CEILING)
    material = np.where(material == ROOM, np.where(axis == 1, floor_or_ceiling, ROOM_WALL),
                        material)
    colour = np.empty((t.size, 3), np.float32)
    for code, texture in TEXTURES.items():
        where = np.flatnonzero(material == code)
        if where.size:
            surface = _Surface(point[0].take(where), s.take(where), h.take(where),
                               footprint.take(where), target.take(where), axis.take(where),
                               gap.take(where, axis=1))
            colour[where] = texture(scene, surface)
    # Fixed diffuse light: the normal (facing the camera) towards the light.
    light = OUTDOOR_LIGHT if scene.has_ground_plane else INDOOR_LIGHT
    facing = np.maximum(-np.sign(along) * light.take(axis), 0.0)
    ambient = np.float32(0.55 if scene.has_ground_plane else 0.7)
    return colour * (ambient + (1.0 - ambient) * facing)[:, None]


def _unit(vector: tuple[float, float, float]) -> np.ndarray:
    return (np.array(vector) / np.linalg.norm(vector)).astype(np.float32)


OUTDOOR_LIGHT = _unit((0.35, -0.85, 0.4))  # towards the sun, world frame (y down)
INDOOR_LIGHT = _unit((0.3, -1.0, 0.2))  # towards the ceiling lamps
ROOM_FLOOR, ROOM_WALL, ROOM_CEILING = 100, 101, 102  # faces of a ROOM box


def _grey(value: np.ndarray, tint: tuple[float, float, float]) -> np.ndarray:
    return np.clip(value, 0.0, 1.0)[:, None] * np.array(tint, np.float32)


def _road(scene: Scene, p: _Surface) -> np.ndarray:
    """Asphalt with lane markings; tiled pavement beyond the kerbs (|x| > 5.5 m)."""
    pavement = _interval(np.abs(p.x), 5.5, 1e3, p.footprint)
    grey = np.zeros_like(pavement)
    tarmac, paved = np.flatnonzero(pavement < 1.0), np.flatnonzero(pavement > 0.0)
    grey[tarmac] = (1.0 - pavement[tarmac]) * _asphalt(
        p.x[tarmac], p.h[tarmac], p.footprint[tarmac], scene.seed)
    grey[paved] += pavement[paved] * _paving(p.x[paved], p.h[paved], p.footprint[paved],
                                             scene.seed + 13)
    return _grey(grey, (0.95, 0.95, 1.0))


def _asphalt(x: np.ndarray, z: np.ndarray, f: np.ndarray, seed: int) -> np.ndarray:
    """Grey level of the carriageway at world (x, z): grainy asphalt, patches, markings."""
    asphalt = 0.33 + 0.9 * _fbm(x, z, f, seed, 3.0, 8)
    asphalt -= 0.08 * np.clip((_value_noise(x / 7.0, z / 7.0, seed + 7) - 0.6) * 8.0, 0.0, 1.0)
    across = np.abs(x)
    marking = np.maximum.reduce([
        _interval(x, -0.07, 0.07, f) * _pulses(z, 9.0, 3.0, f),  # dashed centre line
        _interval(across, 3.43, 3.55, f) * _pulses(z + 4.0, 6.0, 2.0, f),  # lane divider
        _interval(across, 5.15, 5.3, f),  # solid edge lines
    ])
    return asphalt + (0.85 - asphalt) * marking


def _paving(x: np.ndarray, z: np.ndarray, f: np.ndarray, seed: int) -> np.ndarray:
    """Grey level of the pavement: 0.8 m slabs with a tone each, grout lines, a kerb stone."""
    tiles = 0.6 + 0.6 * _fbm(x, z, f, seed, 1.5, 6)
    tint = _lattice_value(_cell(x, 0.8), _cell(z, 0.8), seed + 4) - 0.5
    tiles += 0.12 * tint * np.clip(0.8 / f - 1.0, 0.0, 1.0)
    tiles -= 0.3 * np.maximum(_pulses(x, 0.8, 0.03, f), _pulses(z, 0.8, 0.03, f))
    return tiles + 0.15 * _interval(np.abs(x), 5.5, 5.65, f)


def _facade(scene: Scene, p: _Surface) -> np.ndarray:
    """Rendered walls with plaster/brick noise, storeys of windows and a darker plinth."""
    seed = scene.seed + 1000 + 7 * p.box
    base = scene.colour.take(p.box, axis=0)
    wall = 1.0 + 1.2 * _fbm(p.s, p.h, p.footprint, scene.seed + 31, 2.0, 8)
    wall -= 0.12 * _pulses(p.h, 0.3, 0.03, p.footprint)  # mortar courses
    offset = (seed % 97) / 97.0 * 2.5
    window = _pulses(p.s + offset, 2.5, 1.2, p.footprint)
    window *= _pulses(p.h - 1.2, 3.0, 1.5, p.footprint)
    window *= _interval(p.h, 1.0, 1e3, p.footprint)
    glass, panes = np.zeros_like(window), np.flatnonzero(window)
    glass[panes] = 0.6 + 0.8 * _fbm(p.s[panes], p.h[panes], p.footprint[panes], scene.seed + 37,
                                    1.0, 5)
    colour = base * wall[:, None]
    colour = colour * (1.0 - window[:, None]) + (glass[:, None] * np.array(
        [0.16, 0.2, 0.27], np.float32)) * window[:, None]
    plinth = _interval(p.h, -1.0, 0.6, p.footprint)[:, None]
    colour = colour * (1.0 - 0.4 * plinth)
    return colour * (1.0 - 0.45 * p.edge())


def _car(scene: Scene, p: _Surface) -> np.ndarray:
    """Painted body, dark window band and tyres on the sides, outlined edges."""
    base = scene.colour.take(p.box, axis=0)
    paint = 1.0 + 0.5 * _fbm(p.s, p.h, p.footprint, scene.seed + 41, 0.8, 6)
    vertical = (p.axis != 1).astype(np.float32)
    windows = _interval(p.h, 0.95, 1.35, p.footprint) * vertical
    tyres = _interval(p.h, -1.0, 0.35, p.footprint) * vertical
    colour = base * paint[:, None]
    colour = colour * (1.0 - windows[:, None]) + 0.12 * windows[:, None]
    colour = colour * (1.0 - tyres[:, None]) + 0.06 * tyres[:, None]
    return colour * (1.0 - 0.5 * p.edge())


def _pole(scene: Scene, p: _Surface) -> np.ndarray:
    metal = 0.5 + 0.5 * _fbm(p.s, p.h, p.footprint, scene.seed + 43, 0.5, 5)
    metal -= 0.2 * _pulses(p.h, 1.0, 0.08, p.footprint)
    return _grey(metal, (0.9, 0.92, 0.95)) * (1.0 - 0.3 * p.edge())


def _floor(scene: Scene, p: _Surface) -> np.ndarray:
    """Wooden boards 0.2 m wide along z: tone per board, grain, seams."""
    x, z, f, seed = p.s, p.h, p.footprint, scene.seed + 51
    board = _cell(x, 0.2)
    shift = _lattice_value(board, np.zeros_like(board), seed) * 1.5
    piece = _cell(z + shift, 1.5)
    tone = 1.0 + 0.35 * (_lattice_value(board, piece, seed + 1) - 0.5) * np.clip(0.2 / f - 1, 0, 1)
    grain = 1.0 + 0.9 * _fbm(x * 6.0, z * 0.6, f * 6.0, seed + 2, 1.0, 7)
    seams = np.maximum(_pulses(x, 0.2, 0.008, f), _pulses(z + shift, 1.5, 0.008, f))
    value = tone * grain * (1.0 - 0.6 * seams)
    return value[:, None] * np.array([0.62, 0.45, 0.3], np.float32)


def _wall(scene: Scene, p: _Surface) -> np.ndarray:
    """Painted wallpaper with stripes and noise, a dark skirting board."""
    base = scene.colour.take(p.box, axis=0) * (0.9 + 0.1 * p.axis[:, None].astype(np.float32))
    paper = 1.0 + 0.7 * _fbm(p.s, p.h, p.footprint, scene.seed + 61, 1.5, 8)
    paper += 0.07 * (_pulses(p.s, 0.3, 0.15, p.footprint) - 0.5)
    colour = base * paper[:, None]
    skirting = _interval(p.h, -1.0, 0.1, p.footprint)[:, None]
    return colour * (1.0 - skirting) + np.array([0.3, 0.22, 0.16], np.float32) * skirting


def _ceiling(scene: Scene, p: _Surface) -> np.ndarray:
    """Off-white plaster with a grid of framed light panels."""
    plaster = 0.85 + 0.5 * _fbm(p.s, p.h, p.footprint, scene.seed + 71, 2.0, 6)
    panel = _pulses(p.s + 0.3, 2.4, 0.6, p.footprint) * _pulses(p.h + 0.3, 2.4, 0.6, p.footprint)
    frame = _pulses(p.s + 0.35, 2.4, 0.7, p.footprint) * _pulses(p.h + 0.35, 2.4, 0.7, p.footprint)
    value = plaster * (1.0 - frame) + 0.45 * (frame - panel) + 1.0 * panel
    return _grey(value, (1.0, 0.98, 0.94))


def _furniture(scene: Scene, p: _Surface) -> np.ndarray:
    """Wood or painted panels with grain along the face and outlined edges."""
    base = scene.colour.take(p.box, axis=0)
    grain = 1.0 + 0.8 * _fbm(p.s * 0.5, p.h * 5.0, p.footprint * 5.0, scene.seed + 81, 1.0, 7)
    return base * grain[:, None] * (1.0 - 0.55 * p.edge())


def _poster(scene: Scene, p: _Surface) -> np.ndarray:
    """Colourful pictures: three independent fractal channels in a dark frame."""
    channels = [0.5 + 1.4 * _fbm(p.s, p.h, p.footprint, scene.seed + 91 + 13 * c + 7 * p.box,
                                 0.5, 6) for c in range(3)]
    return np.clip(np.stack(channels, axis=1), 0.0, 1.0) * (1.0 - 0.8 * p.edge())


TEXTURES: dict[int, Callable[[Scene, _Surface], np.ndarray]] = {
    ROAD: _road, FACADE: _facade, CAR: _car, POLE: _pole, FURNITURE: _furniture, POSTER: _poster,
    ROOM_FLOOR: _floor, ROOM_WALL: _wall, ROOM_CEILING: _ceiling,
}


def _sky_colour(directions: np.ndarray, focal: float) -> np.ndarray:
    """Blue gradient with clouds, a function of direction only (the sky is infinitely far).

    Clouds are noise on a plane above the camera, seen along each direction (3 x n, world).
    """
    unit = directions / np.sqrt((directions * directions).sum(axis=0))
    up = np.maximum(-unit[1], 0.0)
    lift = np.maximum(up, 0.05)
    x, y = unit[0] / lift * 2.0, unit[2] / lift * 2.0
    footprint = 2.0 / (np.float32(focal) * lift * lift)
    clouds = np.clip(0.5 + 2.0 * _fbm(x, y, footprint, 12345, 2.0, 6), 0.0, 1.0)
    clouds *= np.clip(up * 6.0, 0.0, 1.0)  # fade out towards the horizon
    horizon, zenith = np.array([0.85, 0.88, 0.92]), np.array([0.35, 0.55, 0.85])
    blend = np.sqrt(up)[:, None]
    sky = (horizon * (1.0 - blend) + zenith * blend).astype(np.float32)
    return sky * (1.0 - clouds[:, None]) + np.float32(0.95) * clouds[:, None]


# Writing datasets -----------------------------------------------------------------------------

@dataclass(frozen=True)
class GenerationSummary:
    kind: str
    root: Path
    sequences: int
    frames: int
    width: int
    height: int
    split_sizes: dict[str, int]  # split name -> number of lines
    seconds: float

    def line(self) -> str:
        splits = ", ".join(f"{name} {count}" for name, count in self.split_sizes.items())
        return (f"{self.kind}: {self.sequences} sequences x {self.frames} frames at "
                f"{self.width}x{self.height} -> {self.root} (splits: {splits}) in "
                f"{self.seconds:.1f} s")


def generate_outdoor(out_dir: str | Path, sequences: int = 3, frames: int = 100,
                     width: int = 416, height: int = 128, seed: int = 0,
                     progress: bool = False,
                     odometry_noise: OdometryNoise | None = None) -> GenerationSummary:
    """Write street drives in the KITTI raw layout under `out_dir` (see the module docstring).

    Per drive `<date>/<date>_drive_<n>_sync/`: image_02|image_03/data/%010d.png and
    timestamps.txt, velodyne_points/data/%010d.bin, depth_gt/%010d.npy (image_02 depth, float32
    metres, 0 = sky), poses.txt, odometry.txt (noisy vehicle odometry, `odometry_noise`, default
    STREET_ODOMETRY_NOISE); per date calib_cam_to_cam.txt, calib_velo_to_cam.txt and
    calib_imu_to_velo.txt.
    """
    odometry_noise = STREET_ODOMETRY_NOISE if odometry_noise is None else odometry_noise
    start, out = time.perf_counter(), Path(out_dir)
    _check_arguments(sequences, frames, width, height)
    k = pixel_matrix(KITTI_NORMALIZED_K, width, height)
    date_dir = out / OUTDOOR_DATE
    date_dir.mkdir(parents=True, exist_ok=True)
    write_kitti_calibration(date_dir, k, width, height)
    right_of_left = np.eye(4)
    right_of_left[0, 3] = STEREO_BASELINE
    folders = []
    with tqdm(total=sequences * frames, desc="outdoor", unit="frame", disable=not progress) as bar:
        for sequence in range(sequences):
            rng = np.random.default_rng([seed, 0, sequence])
            poses = outdoor_trajectory(rng, frames)
            scene = outdoor_scene(rng, poses[0][2, 3], poses[-1][2, 3])
            folder = f"{OUTDOOR_DATE}/{OUTDOOR_DATE}_drive_{sequence + 1:04d}_sync"
            drive = out / folder
            for name in ("image_02/data", "image_03/data", "velodyne_points/data", "depth_gt"):
                (drive / name).mkdir(parents=True, exist_ok=True)
            for index, pose in enumerate(poses):
                rgb, depth = render_view(scene, pose, k, width, height)
                right, _ = render_view(scene, pose @ right_of_left, k, width, height)
                name = f"{index:010d}"
                _write_image(drive / "image_02" / "data" / f"{name}.png", rgb)
                _write_image(drive / "image_03" / "data" / f"{name}.png", right)
                np.save(drive / "depth_gt" / f"{name}.npy", depth)
                points = velodyne_scan(rgb, depth, k)
                points.tofile(drive / "velodyne_points" / "data" / f"{name}.bin")
                bar.update()
            write_poses(drive / "poses.txt", poses)
            for camera in ("image_02", "image_03"):
                write_kitti_timestamps(drive / camera / "timestamps.txt", frames)
            noise_rng = np.random.default_rng([seed, 2, sequence])
            write_odometry(drive / ODOMETRY_FILE,
                           vehicle_odometry(poses, noise_rng, odometry_noise))
            folders.append(folder)
    sizes = write_splits(out / "splits", folders, frames, train_sides=("l", "r"))
    return GenerationSummary("outdoor", out, sequences, frames, width, height, sizes,
                             time.perf_counter() - start)


def generate_indoor(out_dir: str | Path, sequences: int = 3, frames: int = 100,
                    width: int = 320, height: int = 240, seed: int = 0,
                    progress: bool = False) -> GenerationSummary:
    """Write room walk-throughs in the NYU layout under `out_dir` (see the module docstring).

    Per scene `synthetic_room_%04d/`: image/%010d.jpg (quality 95), depth/%010d.png (uint16
    millimetres, Kinect normalised intrinsics at width x height), poses.txt.
    """
    start, out = time.perf_counter(), Path(out_dir)
    _check_arguments(sequences, frames, width, height)
    k = pixel_matrix(KINECT_NORMALIZED_K, width, height)
    folders = []
    with tqdm(total=sequences * frames, desc="indoor", unit="frame", disable=not progress) as bar:
        for sequence in range(sequences):
            rng = np.random.default_rng([seed, 1, sequence])
            scene, clear_radius = indoor_scene(rng)
            poses = indoor_trajectory(rng, frames, clear_radius)
            folder = INDOOR_SCENE.format(sequence)
            for name in ("image", "depth"):
                (out / folder / name).mkdir(parents=True, exist_ok=True)
            for index, pose in enumerate(poses):
                rgb, depth = render_view(scene, pose, k, width, height)
                _write_image(out / folder / "image" / f"{index:010d}.jpg", rgb)
                millimetres = np.clip(np.rint(depth * 1000.0), 0, 65535).astype(np.uint16)
                _write_image(out / folder / "depth" / f"{index:010d}.png", millimetres)
                bar.update()
            write_poses(out / folder / "poses.txt", poses)
            folders.append(folder)
    sizes = write_splits(out / "splits", folders, frames, train_sides=("l",))
    return GenerationSummary("indoor", out, sequences, frames, width, height, sizes,
                             time.perf_counter() - start)


def pixel_matrix(intrinsics: NormalizedIntrinsics, width: int, height: int) -> np.ndarray:
    """3 x 3 float64 pixel intrinsics the generator renders with (the dataset's K, unrounded)."""
    return np.array([[intrinsics.fx * width, 0.0, intrinsics.cx * width],
                     [0.0, intrinsics.fy * height, intrinsics.cy * height],
                     [0.0, 0.0, 1.0]])


def _check_arguments(sequences: int, frames: int, width: int, height: int) -> None:
    for name, value, least in (("sequences", sequences, 1), ("frames", frames, 5),
                               ("width", width, 8), ("height", height, 8)):
        if value < least:
            raise ValueError(f"{name}={value} is too small; expected at least {least}")


def _write_image(path: Path, image: np.ndarray) -> None:
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), pixels, params):
        raise OSError(f"could not write image {path}")


def velodyne_scan(rgb: np.ndarray, depth: np.ndarray, k: np.ndarray) -> np.ndarray:
    """N x 4 float32 (x fwd, y left, z up, reflectance) velodyne points seen by image_02.

    A 64-beam pattern: each beam is the pixel row at its elevation, sampled at every column, so
    every point is an exact surface hit that projects back onto a pixel centre of image_02.
    """
    height, width = depth.shape
    rows = np.unique(np.rint(k[1, 2] - k[1, 1] * np.tan(np.radians(LIDAR_ELEVATIONS))))
    rows = rows[(rows >= 0) & (rows < height)].astype(int)
    v, u = np.meshgrid(rows, np.arange(width), indexing="ij")
    z = depth[v, u].astype(float)
    camera2 = np.stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z, z], -1)
    rect0 = camera2 + np.array(CAMERA_CENTRES[2])  # rectified camera-0 frame
    camera0 = rect0 @ R_RECT_00  # R_rect^T X, as row vectors
    velodyne = (camera0 - VELO_TO_CAM_T) @ VELO_TO_CAM_R  # R^T (X - T)
    reflectance = rgb[v, u].mean(axis=-1) / 255.0
    keep = (z > 0) & (np.linalg.norm(velodyne, axis=-1) < LIDAR_MAX_RANGE)
    points = np.concatenate([velodyne[keep], reflectance[keep][:, None]], axis=1)
    return points.astype(np.float32)


def write_kitti_calibration(date_dir: Path, k: np.ndarray, width: int, height: int) -> None:
    """calib_cam_to_cam.txt and calib_velo_to_cam.txt in KITTI's `key: numbers` text format.

    P_rect_0i = K [I | -c_i] with c_i the camera centre in the rectified camera-0 frame, so
    P_rect_02 @ R_rect_00 @ [R | T] maps velodyne points onto image_02 pixels.
    """
    def numbers(values: np.ndarray) -> str:
        return " ".join(f"{value:.12e}" for value in np.asarray(values, float).ravel())

    lines = ["calib_time: 01-Jan-2000 00:00:00", f"corner_dist: {numbers([0.0995])}"]
    for camera, centre in CAMERA_CENTRES.items():
        projection = np.hstack([k, -k @ np.array(centre)[:, None]])
        lines += [
            f"S_{camera:02d}: {numbers([width, height])}",
            f"K_{camera:02d}: {numbers(k)}",
            f"D_{camera:02d}: {numbers(np.zeros(5))}",
            f"R_{camera:02d}: {numbers(np.eye(3))}",
            f"T_{camera:02d}: {numbers(0.0 - np.array(centre))}",
            f"S_rect_{camera:02d}: {numbers([width, height])}",
            f"R_rect_{camera:02d}: {numbers(R_RECT_00)}",
            f"P_rect_{camera:02d}: {numbers(projection)}",
        ]
    (date_dir / "calib_cam_to_cam.txt").write_text("\n".join(lines) + "\n")
    (date_dir / "calib_velo_to_cam.txt").write_text("\n".join([
        "calib_time: 01-Jan-2000 00:00:00",
        f"R: {numbers(VELO_TO_CAM_R)}",
        f"T: {numbers(VELO_TO_CAM_T)}",
        f"delta_f: {numbers([0.0, 0.0])}",
        f"delta_c: {numbers([0.0, 0.0])}",
    ]) + "\n")
    (date_dir / "calib_imu_to_velo.txt").write_text("\n".join([
        "calib_time: 01-Jan-2000 00:00:00",
        f"R: {numbers(IMU_TO_VELO_R)}",
        f"T: {numbers(IMU_TO_VELO_T)}",
    ]) + "\n")


def write_kitti_timestamps(path: Path, frames: int) -> None:
    """KITTI's `YYYY-MM-DD hh:mm:ss.nnnnnnnnn` per frame, FRAME_RATE apart from OUTDOOR_EPOCH."""
    lines = []
    for frame in range(frames):
        nanoseconds = round(frame * 1e9 / FRAME_RATE)
        minutes, seconds = divmod(nanoseconds // 10**9, 60)
        fraction = nanoseconds % 10**9
        lines.append(f"{OUTDOOR_EPOCH[:11]}{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}"
                     f".{fraction:09d}\n")
    path.write_text("".join(lines))


# Odometry -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OdometryNoise:
    """How recorded odometry departs from the true motion; all zero gives the truth.

    Each odometry step's travelled distance is scaled by 1 + N(0, distance); its heading turns
    by N(0, heading) plus a per-recording drift (a rate drawn once from N(0, heading_drift), in
    radians per metre travelled, like a wheel slightly larger than the other). Gaps: each sample
    starts a run of `gap_samples` missing samples with probability `gap_rate`.
    """

    distance: float = 0.0  # relative standard deviation of each step's distance
    heading: float = 0.0  # radians, standard deviation of each step's heading error
    heading_drift: float = 0.0  # radians per metre, standard deviation of the drift rate
    gap_rate: float = 0.0  # chance per sample that a gap starts there
    gap_samples: tuple[int, int] = (2, 8)  # shortest and longest gap, samples


# Wheel odometry of a car: 3 % distance noise per step, 0.05 deg heading noise, a heading drift of
# the order of 2 deg per 100 m, a gap (0.1-0.4 s) every ~2.5 s on average.
STREET_ODOMETRY_NOISE = OdometryNoise(0.03, math.radians(0.05), math.radians(0.02), 0.02)


def camera_to_vehicle(camera: int = 2) -> np.ndarray:
    """4 x 4 pose of rectified camera `camera` in the vehicle (IMU) frame, from the rig above."""
    imu_to_velo, velo_to_cam0, rectify = np.eye(4), np.eye(4), np.eye(4)
    imu_to_velo[:3, :3], imu_to_velo[:3, 3] = IMU_TO_VELO_R, IMU_TO_VELO_T
    velo_to_cam0[:3, :3], velo_to_cam0[:3, 3] = VELO_TO_CAM_R, VELO_TO_CAM_T
    rectify[:3, :3] = R_RECT_00
    rect_to_camera = np.eye(4)
    rect_to_camera[:3, 3] = -np.array(CAMERA_CENTRES[camera])
    return np.linalg.inv(rect_to_camera @ rectify @ velo_to_cam0 @ imu_to_velo)


def vehicle_odometry(camera_poses: list[np.ndarray], rng: np.random.Generator,
                     noise: OdometryNoise) -> OdometryTrack:
    """Noisy vehicle odometry at ODOMETRY_RATE for a drive whose image_02 poses are given.

    The true vehicle poses follow from the camera's through camera_to_vehicle (samples between
    frames are interpolated); the odometry frame is the vehicle at frame 0. Stamps are in
    seconds since the Unix epoch, on the clock of the frames' timestamps.
    """
    vehicle_of_camera = np.linalg.inv(camera_to_vehicle(2))
    truth = [pose @ vehicle_of_camera for pose in camera_poses]
    per_frame = round(ODOMETRY_RATE / FRAME_RATE)
    samples = [truth[0]] + [interpolate(truth[k - 1], truth[k], step / per_frame)
                            for k in range(1, len(truth)) for step in range(1, per_frame + 1)]
    origin = np.linalg.inv(samples[0])
    samples = [origin @ pose for pose in samples]
    return noisy_odometry(samples, OUTDOOR_EPOCH_SECONDS, ODOMETRY_RATE, rng, noise)


def noisy_odometry(truth: list[np.ndarray], start: float, rate: float,
                   rng: np.random.Generator, noise: OdometryNoise) -> OdometryTrack:
    """Integrate the true base poses' steps with OdometryNoise; drop the samples in gaps.

    `truth` are base poses (x forward, y left, z up) `1 / rate` seconds apart from `start`.
    """
    count = len(truth)
    scale = 1.0 + noise.distance * rng.standard_normal(count)
    heading = noise.heading * rng.standard_normal(count)
    drift = noise.heading_drift * rng.standard_normal()
    gap_starts = rng.random(count) < noise.gap_rate
    gap_lengths = rng.integers(noise.gap_samples[0], noise.gap_samples[1] + 1, count)
    poses, keep = [truth[0].copy()], np.ones(count, bool)
    for i in range(1, count):
        step = np.linalg.inv(truth[i - 1]) @ truth[i]
        distance = float(np.linalg.norm(step[:3, 3]))
        step[:3, 3] *= scale[i]
        yaw = heading[i] + drift * distance
        turn = np.eye(4)
        turn[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
        poses.append(poses[-1] @ step @ turn)
        if gap_starts[i]:
            keep[i:i + gap_lengths[i]] = False
    stamps = start + np.arange(count) / rate
    return OdometryTrack(stamps[keep], np.array(poses)[keep])


def write_poses(path: Path, poses: list[np.ndarray]) -> None:
    """One camera-to-world pose per line: the top 3 x 4 of the matrix, row-major."""
    path.write_text("".join(" ".join(f"{v:.12e}" for v in pose[:3].ravel()) + "\n"
                            for pose in poses))


def read_poses(sequence_dir: str | Path) -> np.ndarray:
    """F x 4 x 4 camera-to-world poses from `<sequence>/poses.txt` (12 or 16 numbers per line)."""
    path = Path(sequence_dir) / "poses.txt"
    rows = np.loadtxt(path, ndmin=2)
    if rows.shape[1] not in (12, 16):
        raise ValueError(f"{path}: {rows.shape[1]} numbers per line; expected 12 or 16")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, : rows.shape[1] // 4] = rows.reshape(len(rows), -1, 4)
    return poses


def read_depth(sequence_dir: str | Path, index: int) -> np.ndarray:
    """H x W float32 ground-truth depth in metres (0 = none) of frame `index` of a sequence.

    Outdoor drives hold `depth_gt/%010d.npy`, indoor scenes `depth/%010d.png` in millimetres.
    """
    sequence_dir = Path(sequence_dir)
    dense = sequence_dir / "depth_gt" / f"{index:010d}.npy"
    if dense.is_file():
        return np.load(dense)
    png = sequence_dir / "depth" / f"{index:010d}.png"
    if not png.is_file():
        raise FileNotFoundError(f"no ground truth for frame {index}: neither {dense} nor {png}")
    # The NYU dataset's reader (millimetres here); imported here as it pulls in torch, which
    # the generator itself does not need.
    from training.datasets.nyu import read_depth_png

    return read_depth_png(png, 1000.0)


def read_velodyne(path: str | Path) -> np.ndarray:
    """N x 4 float32 velodyne points (x fwd, y left, z up metres; reflectance) from a .bin."""
    return load_velodyne_points(path)


def write_splits(split_dir: Path, folders: list[str], frames: int,
                 train_sides: tuple[str, ...]) -> dict[str, int]:
    """train/val/test_files.txt with `folder index side` lines; returns the line counts.

    Test: every target of the last sequence (one sequence: its last fifth, after a gap frame).
    Val: the last tenth of each other sequence's targets. Val and test use the left camera only,
    the one with ground truth; train uses `train_sides`.
    """
    targets = list(range(1, frames - 1))  # frames with both neighbours
    held_out: list[tuple[str, int]] = []
    training: list[tuple[str, list[int]]] = []
    if len(folders) > 1:
        held_out = [(folders[-1], index) for index in targets]
        training = [(folder, targets) for folder in folders[:-1]]
    else:
        cut = len(targets) - max(1, len(targets) // 5)
        held_out = [(folders[0], index) for index in targets[cut:]]
        training = [(folders[0], targets[: max(1, cut - 2)])]
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for folder, indices in training:
        count = max(1, len(indices) // 10) if len(indices) > 1 else 0
        train, val = indices[: len(indices) - count], indices[len(indices) - count:]
        splits["train"] += [f"{folder} {i} {side}" for i in train for side in train_sides]
        splits["val"] += [f"{folder} {i} l" for i in val]
    splits["test"] = [f"{folder} {i} l" for folder, i in held_out]
    split_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in splits.items():
        (split_dir / f"{name}_files.txt").write_text("".join(line + "\n" for line in lines))
    return {name: len(lines) for name, lines in splits.items()}


# Command line ---------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=sorted(DEFAULTS), required=True,
                        help="outdoor: KITTI-raw street drives; indoor: NYU-layout rooms")
    parser.add_argument("--out", type=Path, required=True, help="dataset root to write")
    parser.add_argument("--sequences", type=int, help="drives or rooms (default 3)")
    parser.add_argument("--frames", type=int, help="frames per sequence (default 100)")
    parser.add_argument("--width", type=int, help="pixels (default 416 outdoor, 320 indoor)")
    parser.add_argument("--height", type=int, help="pixels (default 128 outdoor, 240 indoor)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")


def main(args: argparse.Namespace) -> int:
    names = ("sequences", "frames", "width", "height")
    defaults = dict(zip(names, DEFAULTS[args.kind], strict=True))
    chosen = {name: default if getattr(args, name) is None else getattr(args, name)
              for name, default in defaults.items()}
    generate = generate_outdoor if args.kind == "outdoor" else generate_indoor
    try:
        summary = generate(args.out, seed=args.seed, progress=True, **chosen)
    except ValueError as error:
        print(f"generate: {error}", file=sys.stderr)
        return 2
    print(summary.line())
    return 0

