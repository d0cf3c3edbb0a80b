"""Spatial relations the task predicates use, from positions alone: zones and sides of the
table, beside the world's "in", "on" and "at" (`saycan.world`, re-exported here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from saycan.world import (
    BLOCK_SIZE,
    BOWL_HEIGHT,
    BOWL_INNER_RADIUS,
    SIDE_CLEARANCE,
    SIDES,
    ZONES,
    is_at,
    is_in_bowl,
    is_on,
    side_place_name,
    side_places,
    side_point,
    xy_distance,
)

# What "in", "on" and "at" mean is a world fact (`saycan.world`), re-exported here beside the
# zone and side relations the task predicates add.
__all__ = [
    "BLOCK_SIZE",
    "BOWL_HEIGHT",
    "BOWL_INNER_RADIUS",
    "ZONES",
    "in_zone",
    "is_at",
    "is_in_bowl",
    "is_left_of",
    "is_on",
    "is_right_of",
    "xy_distance",
    # the sides of objects as places, a world fact too, beside the relations below that use them
    "SIDES",
    "SIDE_CLEARANCE",
    "side_place_name",
    "side_places",
    "side_point",
]


# -- regions of the table (task goals "at the left side", ...): `saycan.world.ZONES` ----------

#: How much further left/right (m, along y) an object must be to count as "left of" another.
SIDE_MARGIN = 0.05


def in_zone(obj_pos: Sequence[float], zone: str) -> bool:
    (x0, x1), (y0, y1) = ZONES[zone]
    return x0 <= obj_pos[0] <= x1 and y0 <= obj_pos[1] <= y1


def is_left_of(obj_pos: Sequence[float], ref_pos: Sequence[float]) -> bool:
    """The object lies to the robot's left (+y) of the reference, by at least `SIDE_MARGIN`."""
    return obj_pos[1] - ref_pos[1] > SIDE_MARGIN


def is_right_of(obj_pos: Sequence[float], ref_pos: Sequence[float]) -> bool:
    return ref_pos[1] - obj_pos[1] > SIDE_MARGIN


# -- next to, a bit that way, in a line (the sides themselves: `saycan.world.SIDES`) ----------


def side_offset(obj_xy: Sequence[float], ref_xy: Sequence[float], side: str) -> tuple[float, float]:
    """(along, across): how far `obj` lies from `ref` towards `side`, and off that axis."""
    dx, dy = SIDES[side]
    vx, vy = float(obj_xy[0]) - float(ref_xy[0]), float(obj_xy[1]) - float(ref_xy[1])
    return vx * dx + vy * dy, abs(vx * dy - vy * dx)


def is_beside(
    obj_xy: Sequence[float], obj_half: float, ref_xy: Sequence[float], ref_half: float, side: str
) -> bool:
    """`obj` is next to `ref` on that side: clear of it, at most `BESIDE_REACH` beyond the
    touching distance, and not off to either side by more than the wider one's half-width."""
    along, across = side_offset(obj_xy, ref_xy, side)
    touching = obj_half + ref_half
    return touching < along <= touching + BESIDE_REACH and across <= max(obj_half, ref_half)


#: How far (m) past touching "next to, on the left" still reaches (two and a half block widths).
BESIDE_REACH = 0.10
#: "Move it a bit to the left": between one block width and this far (m) that way.
OFFSET_MAX = 0.20


def is_offset(
    final_xy: Sequence[float],
    initial_xy: Sequence[float],
    side: str,
    max_across: float = BLOCK_SIZE,
) -> bool:
    """The object moved "a bit" towards `side` from where it was: at least a block width, at
    most `OFFSET_MAX`, and within `max_across` of straight that way."""
    along, across = side_offset(final_xy, initial_xy, side)
    return BLOCK_SIZE <= along <= OFFSET_MAX and across <= max_across


#: Directions a line may take, as the range of its angle to the robot's left-right axis (deg).
LINE_AXES: dict[str, tuple[float, float]] = {
    "horizontal": (0.0, 10.0),  # left to right, across the robot
    "vertical": (80.0, 90.0),  # near to far
    "diagonal": (25.0, 65.0),  # corner to corner
}


def in_line(
    points: Sequence[Sequence[float]], axis: str, tolerance: float, min_spacing: float = BLOCK_SIZE
) -> bool:
    """The points (xy) lie on one straight line in that direction: each within `tolerance` of
    the best-fit line, no two closer than `min_spacing` (a stack is not a line)."""
    pts = np.asarray([p[:2] for p in points], dtype=float)
    if len(pts) < 2:
        return False
    if any(
        np.linalg.norm(pts[i] - pts[j]) < min_spacing
        for i in range(len(pts))
        for j in range(i + 1, len(pts))
    ):
        return False
    centred = pts - pts.mean(axis=0)
    _, _, vt = np.linalg.svd(centred)
    direction, normal = vt[0], vt[1]
    if float(np.max(np.abs(centred @ normal))) > tolerance:
        return False
    # 0 deg: along y (the robot's left-right), 90 deg: along x (away from the robot).
    angle = float(np.degrees(np.arctan2(abs(direction[0]), abs(direction[1]))))
    lo, hi = LINE_AXES[axis]
    return lo <= angle <= hi
