"""Spatial relations between objects, from positions and sizes alone (pure numpy).

Shared by the task predicates (judging the final simulator state) and by perception (describing
a scene it estimated), so "in" and "on" mean the same thing to the judge and to the planner.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Inner radius of a bowl: a block whose centre is this close (in xy) to the bowl is inside it.
BOWL_INNER_RADIUS = 0.065
BOWL_HEIGHT = 0.04
BLOCK_SIZE = 0.04


def xy_distance(a: Sequence[float], b: Sequence[float]) -> float:
    return float(np.hypot(a[0] - b[0], a[1] - b[1]))


def is_in_bowl(obj_pos: Sequence[float], bowl_pos: Sequence[float]) -> bool:
    """The object's centre is within the bowl's inner radius and not above the rim."""
    bowl_bottom = bowl_pos[2] - BOWL_HEIGHT / 2
    return (
        xy_distance(obj_pos, bowl_pos) < BOWL_INNER_RADIUS
        and obj_pos[2] < bowl_bottom + BOWL_HEIGHT + BLOCK_SIZE
    )


def is_on(
    obj_pos: Sequence[float],
    obj_size: Sequence[float],
    support_pos: Sequence[float],
    support_size: Sequence[float],
) -> bool:
    """The object rests directly on top of the support (centres aligned, touching heights)."""
    expected_dz = (obj_size[2] + support_size[2]) / 2
    dz = obj_pos[2] - support_pos[2]
    max_offset = 0.6 * max(support_size[0], support_size[1])
    return xy_distance(obj_pos, support_pos) < max_offset and abs(dz - expected_dz) < 0.015


def is_at(obj_pos: Sequence[float], location: Sequence[float], tolerance: float = 0.05) -> bool:
    return xy_distance(obj_pos, location) < tolerance


# -- regions of the table (task goals "at the left side", "in the middle", ...) ---------------
#: Side zones as xy boxes ((x_min, x_max), (y_min, y_max)), world frame. "left" is the robot's
#: left (+y), "top" is far from the robot (+x), matching `scene_spec.LOCATIONS`.
ZONES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "left side": ((0.25, 0.75), (0.10, 0.30)),
    "right side": ((0.25, 0.75), (-0.30, -0.10)),
    "top side": ((0.58, 0.75), (-0.30, 0.30)),
    "bottom side": ((0.25, 0.42), (-0.30, 0.30)),
    # Sampling regions (not goal targets in the packaged tasks): a band along the table's centre
    # line, and the strip beyond the workspace where the arm cannot act.
    "centre band": ((0.38, 0.62), (-0.07, 0.07)),
    "out of reach": ((0.80, 0.86), (-0.15, 0.15)),
}

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
