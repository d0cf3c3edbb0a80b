"""Spatial relations the task predicates use, from positions alone: zones and sides of the
table, beside the world's "in", "on" and "at" (`saycan.world`, re-exported here)."""

from __future__ import annotations

from collections.abc import Sequence

from saycan.world import (
    BLOCK_SIZE,
    BOWL_HEIGHT,
    BOWL_INNER_RADIUS,
    ZONES,
    is_at,
    is_in_bowl,
    is_on,
    xy_distance,
)

# What "in", "on" and "at" mean is a world fact (`saycan.world`), re-exported here beside the
# zone and side relations the task predicates add.
__all__ = [
    "BLOCK_SIZE", "BOWL_HEIGHT", "BOWL_INNER_RADIUS", "ZONES", "in_zone", "is_at", "is_in_bowl",
    "is_left_of", "is_on", "is_right_of", "xy_distance",
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
