"""Analytic ray casting of a Scene: RGB image and z-depth from one camera pose.

Camera optical frame x right, y down, z forward; pixel column u has its centre at x = u
(Monodepth2's convention), so a point X projects to K @ X / z exactly. Lighting is fixed and
diffuse, so a surface looks the same from every frame.
"""

from __future__ import annotations

import itertools

import numpy as np

from training.synthetic.scene import GROUND, ROAD, ROOM, SKY, Scene
from training.synthetic.textures import ROOM_CEILING, ROOM_FLOOR, ROOM_WALL, TEXTURES, Surface, fbm

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
            surface = Surface(point[0].take(where), s.take(where), h.take(where),
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


def _sky_colour(directions: np.ndarray, focal: float) -> np.ndarray:
    """Blue gradient with clouds, a function of direction only (the sky is infinitely far).

    Clouds are noise on a plane above the camera, seen along each direction (3 x n, world).
    """
    unit = directions / np.sqrt((directions * directions).sum(axis=0))
    up = np.maximum(-unit[1], 0.0)
    lift = np.maximum(up, 0.05)
    x, y = unit[0] / lift * 2.0, unit[2] / lift * 2.0
    footprint = 2.0 / (np.float32(focal) * lift * lift)
    clouds = np.clip(0.5 + 2.0 * fbm(x, y, footprint, 12345, 2.0, 6), 0.0, 1.0)
    clouds *= np.clip(up * 6.0, 0.0, 1.0)  # fade out towards the horizon
    horizon, zenith = np.array([0.85, 0.88, 0.92]), np.array([0.35, 0.55, 0.85])
    blend = np.sqrt(up)[:, None]
    sky = (horizon * (1.0 - blend) + zenith * blend).astype(np.float32)
    return sky * (1.0 - clouds[:, None]) + np.float32(0.95) * clouds[:, None]
