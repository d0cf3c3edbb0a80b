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
