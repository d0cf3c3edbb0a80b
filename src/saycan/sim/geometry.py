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


# -- the sides of an object as places ("left of the red block") -------------------------------
#: Unit xy direction of each side of an object, world frame: "front" faces the robot (-x),
#: "behind" is further away (+x), "left" is the robot's left (+y).
SIDES: dict[str, tuple[float, float]] = {
    "left": (0.0, 1.0),
    "right": (0.0, -1.0),
    "front": (-1.0, 0.0),
    "behind": (1.0, 0.0),
}
#: From an object's edge to the centre of a block put at its side: room for the open fingers
#: between the two, so placing there does not knock the object.
SIDE_GAP = 0.08
#: Clearance (m) a side place keeps from every object other than its anchor, edge to edge.
SIDE_CLEARANCE = 0.015


def side_place_name(side: str, anchor: str) -> str:
    """The place's name as the planner reads it: `left of the red block`, `behind the blue bowl`."""
    return {"front": f"in front of the {anchor}", "behind": f"behind the {anchor}"}.get(
        side, f"{side} of the {anchor}"
    )


def side_point(anchor_xy: Sequence[float], anchor_half_width: float, side: str) -> tuple[float, float]:
    """Where a block put at `side` of an object of that half-width goes (its centre, xy)."""
    dx, dy = SIDES[side]
    r = anchor_half_width + SIDE_GAP
    return (float(anchor_xy[0]) + dx * r, float(anchor_xy[1]) + dy * r)


def side_places(
    anchors: Sequence[tuple[str, Sequence[float], float]],
    others: Sequence[tuple[str, Sequence[float], float]],
    workspace: tuple[tuple[float, float], tuple[float, float]],
) -> dict[str, tuple[float, float]]:
    """The free side places of `anchors` ((name, xy, half-width) of objects resting on the
    table): inside the workspace, and with room for a block clear of every object in `others`
    but the anchor. One rule for perception (the planner's places) and the expert (its plan)."""
    (x0, x1), (y0, y1) = workspace
    half = BLOCK_SIZE / 2
    out: dict[str, tuple[float, float]] = {}
    for name, xy, width in anchors:
        for side in SIDES:
            p = side_point(xy, width, side)
            if not (x0 <= p[0] <= x1 and y0 <= p[1] <= y1):
                continue
            if all(
                o == name or xy_distance(p, oxy) >= half + ow + SIDE_CLEARANCE for o, oxy, ow in others
            ):
                out[side_place_name(side, name)] = p
    return out


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
    final_xy: Sequence[float], initial_xy: Sequence[float], side: str, max_across: float = BLOCK_SIZE
) -> bool:
    """The object moved "a bit" towards `side` from where it was: at least a block width, at
    most `OFFSET_MAX`, and within `max_across` of straight that way."""
    along, across = side_offset(final_xy, initial_xy, side)
    return BLOCK_SIZE <= along <= OFFSET_MAX and across <= max_across


#: Directions a line may take, as the range of its angle to the robot's left-right axis (deg).
LINE_AXES: dict[str, tuple[float, float]] = {
    "horizontal": (0.0, 10.0),    # left to right, across the robot
    "vertical": (80.0, 90.0),     # near to far
    "diagonal": (25.0, 65.0),     # corner to corner
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
        for i in range(len(pts)) for j in range(i + 1, len(pts))
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
