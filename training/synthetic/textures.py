"""Surface textures as functions of world coordinates (metres), band-limited to the pixel size.

Value-noise fractals and box-filtered patterns: a surface looks the same from every frame and
distant ones do not alias, which is what the photometric loss assumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.synthetic.scene import CAR, FACADE, FURNITURE, POLE, POSTER, ROAD, Scene

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


def fbm(x: np.ndarray, y: np.ndarray, footprint: np.ndarray, seed: np.ndarray | int,
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
            octave_seed = seed[active] if isinstance(seed, np.ndarray) else seed
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
class Surface:
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


ROOM_FLOOR, ROOM_WALL, ROOM_CEILING = 100, 101, 102  # faces of a ROOM box


def _grey(value: np.ndarray, tint: tuple[float, float, float]) -> np.ndarray:
    return np.clip(value, 0.0, 1.0)[:, None] * np.array(tint, np.float32)


def _road(scene: Scene, p: Surface) -> np.ndarray:
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
    asphalt = 0.33 + 0.9 * fbm(x, z, f, seed, 3.0, 8)
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
    tiles = 0.6 + 0.6 * fbm(x, z, f, seed, 1.5, 6)
    tint = _lattice_value(_cell(x, 0.8), _cell(z, 0.8), seed + 4) - 0.5
    tiles += 0.12 * tint * np.clip(0.8 / f - 1.0, 0.0, 1.0)
    tiles -= 0.3 * np.maximum(_pulses(x, 0.8, 0.03, f), _pulses(z, 0.8, 0.03, f))
    return tiles + 0.15 * _interval(np.abs(x), 5.5, 5.65, f)


def _facade(scene: Scene, p: Surface) -> np.ndarray:
    """Rendered walls with plaster/brick noise, storeys of windows and a darker plinth."""
    seed = scene.seed + 1000 + 7 * p.box
    base = scene.colour.take(p.box, axis=0)
    wall = 1.0 + 1.2 * fbm(p.s, p.h, p.footprint, scene.seed + 31, 2.0, 8)
    wall -= 0.12 * _pulses(p.h, 0.3, 0.03, p.footprint)  # mortar courses
    offset = (seed % 97) / 97.0 * 2.5
    window = _pulses(p.s + offset, 2.5, 1.2, p.footprint)
    window *= _pulses(p.h - 1.2, 3.0, 1.5, p.footprint)
    window *= _interval(p.h, 1.0, 1e3, p.footprint)
    glass, panes = np.zeros_like(window), np.flatnonzero(window)
    glass[panes] = 0.6 + 0.8 * fbm(p.s[panes], p.h[panes], p.footprint[panes], scene.seed + 37,
                                    1.0, 5)
    colour = base * wall[:, None]
    colour = colour * (1.0 - window[:, None]) + (glass[:, None] * np.array(
        [0.16, 0.2, 0.27], np.float32)) * window[:, None]
    plinth = _interval(p.h, -1.0, 0.6, p.footprint)[:, None]
    colour = colour * (1.0 - 0.4 * plinth)
    return colour * (1.0 - 0.45 * p.edge())


def _car(scene: Scene, p: Surface) -> np.ndarray:
    """Painted body, dark window band and tyres on the sides, outlined edges."""
    base = scene.colour.take(p.box, axis=0)
    paint = 1.0 + 0.5 * fbm(p.s, p.h, p.footprint, scene.seed + 41, 0.8, 6)
    vertical = (p.axis != 1).astype(np.float32)
    windows = _interval(p.h, 0.95, 1.35, p.footprint) * vertical
    tyres = _interval(p.h, -1.0, 0.35, p.footprint) * vertical
    colour = base * paint[:, None]
    colour = colour * (1.0 - windows[:, None]) + 0.12 * windows[:, None]
    colour = colour * (1.0 - tyres[:, None]) + 0.06 * tyres[:, None]
    return colour * (1.0 - 0.5 * p.edge())


def _pole(scene: Scene, p: Surface) -> np.ndarray:
    metal = 0.5 + 0.5 * fbm(p.s, p.h, p.footprint, scene.seed + 43, 0.5, 5)
    metal -= 0.2 * _pulses(p.h, 1.0, 0.08, p.footprint)
    return _grey(metal, (0.9, 0.92, 0.95)) * (1.0 - 0.3 * p.edge())


def _floor(scene: Scene, p: Surface) -> np.ndarray:
    """Wooden boards 0.2 m wide along z: tone per board, grain, seams."""
    x, z, f, seed = p.s, p.h, p.footprint, scene.seed + 51
    board = _cell(x, 0.2)
    shift = _lattice_value(board, np.zeros_like(board), seed) * 1.5
    piece = _cell(z + shift, 1.5)
    tone = 1.0 + 0.35 * (_lattice_value(board, piece, seed + 1) - 0.5) * np.clip(0.2 / f - 1, 0, 1)
    grain = 1.0 + 0.9 * fbm(x * 6.0, z * 0.6, f * 6.0, seed + 2, 1.0, 7)
    seams = np.maximum(_pulses(x, 0.2, 0.008, f), _pulses(z + shift, 1.5, 0.008, f))
    value = tone * grain * (1.0 - 0.6 * seams)
    return value[:, None] * np.array([0.62, 0.45, 0.3], np.float32)


def _wall(scene: Scene, p: Surface) -> np.ndarray:
    """Painted wallpaper with stripes and noise, a dark skirting board."""
    base = scene.colour.take(p.box, axis=0) * (0.9 + 0.1 * p.axis[:, None].astype(np.float32))
    paper = 1.0 + 0.7 * fbm(p.s, p.h, p.footprint, scene.seed + 61, 1.5, 8)
    paper += 0.07 * (_pulses(p.s, 0.3, 0.15, p.footprint) - 0.5)
    colour = base * paper[:, None]
    skirting = _interval(p.h, -1.0, 0.1, p.footprint)[:, None]
    return colour * (1.0 - skirting) + np.array([0.3, 0.22, 0.16], np.float32) * skirting


def _ceiling(scene: Scene, p: Surface) -> np.ndarray:
    """Off-white plaster with a grid of framed light panels."""
    plaster = 0.85 + 0.5 * fbm(p.s, p.h, p.footprint, scene.seed + 71, 2.0, 6)
    panel = _pulses(p.s + 0.3, 2.4, 0.6, p.footprint) * _pulses(p.h + 0.3, 2.4, 0.6, p.footprint)
    frame = _pulses(p.s + 0.35, 2.4, 0.7, p.footprint) * _pulses(p.h + 0.35, 2.4, 0.7, p.footprint)
    value = plaster * (1.0 - frame) + 0.45 * (frame - panel) + 1.0 * panel
    return _grey(value, (1.0, 0.98, 0.94))


def _furniture(scene: Scene, p: Surface) -> np.ndarray:
    """Wood or painted panels with grain along the face and outlined edges."""
    base = scene.colour.take(p.box, axis=0)
    grain = 1.0 + 0.8 * fbm(p.s * 0.5, p.h * 5.0, p.footprint * 5.0, scene.seed + 81, 1.0, 7)
    return base * grain[:, None] * (1.0 - 0.55 * p.edge())


def _poster(scene: Scene, p: Surface) -> np.ndarray:
    """Colourful pictures: three independent fractal channels in a dark frame."""
    channels = [0.5 + 1.4 * fbm(p.s, p.h, p.footprint, scene.seed + 91 + 13 * c + 7 * p.box,
                                 0.5, 6) for c in range(3)]
    return np.clip(np.stack(channels, axis=1), 0.0, 1.0) * (1.0 - 0.8 * p.edge())


TEXTURES: dict[int, Callable[[Scene, Surface], np.ndarray]] = {
    ROAD: _road, FACADE: _facade, CAR: _car, POLE: _pole, FURNITURE: _furniture, POSTER: _poster,
    ROOM_FLOOR: _floor, ROOM_WALL: _wall, ROOM_CEILING: _ceiling,
}
