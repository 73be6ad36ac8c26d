"""Procedural scenes: axis-aligned boxes plus an optional ground plane (world frame, metres).

World axes are the camera's at the start of a sequence, y down. Outdoors a street along +z
(building blocks, parked and stopped cars, poles) over the road plane y = +CAMERA_HEIGHT;
indoors a furnished room box around the origin with the floor at y = +camera height.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAMERA_HEIGHT = 1.65  # metres from the outdoor camera down to the road (KITTI's rig)
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


def indoor_scene(rng: np.random.Generator,
                 camera_height: float | None = None) -> tuple[Scene, float]:
    """A furnished room around the world origin; returns it and its clear radius (metres).

    The camera plane y = 0 lies `camera_height` metres above the floor (default: hand-held,
    drawn within 1.2-1.5 m). The room is box 0 of the scene.
    """
    width, depth, height = rng.uniform(4.5, 6.5), rng.uniform(5.5, 8.0), rng.uniform(2.5, 3.0)
    hand_held = rng.uniform(1.2, 1.5)  # drawn either way: the same seed gives the same room
    floor = hand_held if camera_height is None else camera_height
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
