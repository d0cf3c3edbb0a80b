"""Facts about the tabletop world that every layer shares: object sizes, colours and colour
groups, the workspace, named places and zones, and the few physical constants more than one
layer needs.

It sits below drivers and the simulator and imports nothing of the project, so a skill or a
perception backend reads these facts without reading the simulator, and the simulator builds
what they say. Each fact is defined once here; everything else imports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# -- objects -----------------------------------------------------------------------------------
#: Edge of a block (m): blocks are cubes.
BLOCK_SIZE = 0.04
#: Height of a bowl (m), rim to bottom.
BOWL_HEIGHT = 0.04
#: Inner radius of a bowl: a block whose centre is this close (in xy) to the bowl is inside it.
BOWL_INNER_RADIUS = 0.065
#: Thickness of a bowl's floor: placed objects rest this far above the bowl's bottom.
BOWL_FLOOR = 0.005
#: Thickness of a bowl's wall.
BOWL_WALL = 0.008
BOWL_OUTER_RADIUS = BOWL_INNER_RADIUS + BOWL_WALL

#: Object categories the world has.
CATEGORIES: tuple[str, ...] = ("block", "bowl")


def object_size(category: str) -> tuple[float, float, float]:
    """Bounding-box extent (m) of a category's object."""
    if category == "block":
        return (BLOCK_SIZE, BLOCK_SIZE, BLOCK_SIZE)
    if category == "bowl":
        d = 2 * BOWL_OUTER_RADIUS
        return (d, d, BOWL_HEIGHT)
    raise ValueError(f"unknown object category {category!r} (use 'block' or 'bowl')")


# -- colours -----------------------------------------------------------------------------------
#: RGBA for each named colour; the simulator paints objects with these.
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.12, 0.10, 1.0),
    "orange": (0.98, 0.50, 0.05, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
    "green": (0.15, 0.65, 0.20, 1.0),
    "blue": (0.12, 0.30, 0.85, 1.0),
    "purple": (0.50, 0.20, 0.70, 1.0),
    "pink": (0.98, 0.55, 0.75, 1.0),
    "cyan": (0.10, 0.80, 0.85, 1.0),
    "brown": (0.50, 0.30, 0.12, 1.0),
    "gray": (0.50, 0.50, 0.50, 1.0),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
#: Named colour groups a task role or quantifier may use instead of a list of colours.
COLOUR_GROUPS: dict[str, tuple[str, ...]] = {
    "warm": ("red", "orange", "yellow", "pink"),
    "cool": ("blue", "cyan", "green", "purple"),
}

# -- the table ---------------------------------------------------------------------------------
#: Workspace on the table (world frame, metres): where objects are placed and may be moved to.
WORKSPACE_X = (0.30, 0.70)
WORKSPACE_Y = (-0.25, 0.25)

#: Named locations the skills can place at (table height). "top" is far from the robot (+x),
#: "left" is the robot's left (+y).
LOCATIONS: dict[str, tuple[float, float, float]] = {
    "top left corner": (0.66, 0.21, 0.0),
    "top right corner": (0.66, -0.21, 0.0),
    "bottom left corner": (0.34, 0.21, 0.0),
    "bottom right corner": (0.34, -0.21, 0.0),
    "middle": (0.50, 0.0, 0.0),
}

#: Where the robot stands, for words said from its point of view ("the corner nearest you",
#: "on your left"): its base on the table's centre line at the near edge (x below the workspace),
#: facing +x. Robot models may mount their base a few cm forward; what is near or far, left or
#: right of it is the same for all of them.
ROBOT_XY = (0.0, 0.0)


def seen_from_robot(xy: Sequence[float]) -> tuple[str, str]:
    """(depth, lateral) of a table point as the robot sees it: depth is "far", "near" or ""
    (level with the workspace's centre), lateral is "left", "right" or "" (straight ahead). The
    robot faces +x, so its left is +y; the named places above follow the same convention."""
    centre = (WORKSPACE_X[0] + WORKSPACE_X[1]) / 2
    ahead = float(xy[0]) - ROBOT_XY[0]
    middle = centre - ROBOT_XY[0]
    depth = "far" if ahead > middle + 1e-6 else "near" if ahead < middle - 1e-6 else ""
    side = float(xy[1]) - ROBOT_XY[1]
    lateral = "left" if side > 1e-6 else "right" if side < -1e-6 else ""
    return depth, lateral


def place_seen_from_robot(place: str) -> tuple[str, str]:
    """`seen_from_robot` of a named location or side zone (its centre): "top left corner" is
    ("far", "left"), "bottom side" is ("near", "")."""
    if place in LOCATIONS:
        return seen_from_robot(LOCATIONS[place])
    (x0, x1), (y0, y1) = ZONES[place]
    return seen_from_robot(((x0 + x1) / 2, (y0 + y1) / 2))


#: Side zones as xy boxes ((x_min, x_max), (y_min, y_max)), world frame. "left" is the robot's
#: left (+y), "top" is far from the robot (+x), matching `LOCATIONS`.
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

#: An object whose centre is below this height (m) has fallen off the table.
OFF_TABLE_Z = -0.05

# -- the hand ----------------------------------------------------------------------------------
#: A block whose centre is this close (m) to the end effector, with the gripper closed on
#: something, is the one in the hand (the fingers hold a 4 cm block about its centre).
HELD_DISTANCE = 0.05
#: Footprint radius (m) a held block occupies on the table for scene sampling: the open fingers
#: around it sweep about 6 cm, more than the block itself (a different fact from the above).
HAND_FOOTPRINT_RADIUS = 0.07

# -- time --------------------------------------------------------------------------------------
#: Control (and physics) steps per simulated second.
CONTROL_HZ = 240.0


# -- what "in", "on" and "at" mean (positions and sizes alone) ---------------------------------
# Shared by the task predicates (judging the final simulator state), by perception (describing
# a scene it estimated) and by skills, so the words mean the same thing to all of them.


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


def side_point(
    anchor_xy: Sequence[float], anchor_half_width: float, side: str
) -> tuple[float, float]:
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
                o == name or xy_distance(p, oxy) >= half + ow + SIDE_CLEARANCE
                for o, oxy, ow in others
            ):
                out[side_place_name(side, name)] = p
    return out
