"""Camera intrinsics YAML files for tests, in the plain format read_intrinsics_yaml accepts."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_intrinsics(path: Path, **changes: object) -> Path:
    """A 128 x 96 camera; `changes` replace values, None drops the key."""
    values: dict[str, object] = {
        "fx": 103.77, "fy": 103.89, "cx": 65.1, "cy": 50.7, "width": 128, "height": 96
    }
    values.update(changes)
    path.write_text(yaml.safe_dump({k: v for k, v in values.items() if v is not None}))
    return path
