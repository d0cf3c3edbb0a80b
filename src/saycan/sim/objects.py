"""Procedural tabletop objects (blocks, bowls) built directly with a `BulletClient`.

Shapes are generated rather than loaded from meshes so that sizes match the geometry constants
the predicates use (`saycan.sim.geometry`), and so that nothing depends on asset files.
Every builder returns the new body's unique id; the body's base frame is the centre of its
bounding box, so `getBasePositionAndOrientation` is directly the `ObjectState.position`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from saycan.world import (
    BLOCK_SIZE,
    BOWL_FLOOR,
    BOWL_HEIGHT,
    BOWL_INNER_RADIUS,
    BOWL_OUTER_RADIUS,
    BOWL_WALL,
    COLOURS,
    object_size,
)

__all__ = [
    "BLOCK_MASS",
    "BOWL_FLOOR",
    "BOWL_MASS",
    "BOWL_OUTER_RADIUS",
    "BOWL_WALL",
    "COLOURS",
    "create_block",
    "create_bowl",
    "create_table",
    "object_size",
]

BLOCK_MASS = 0.06
#: Heavy enough that a brushing finger or a dropped block does not shove the bowl away.
BOWL_MASS = 0.6
BOWL_SEGMENTS = 16
#: High friction so the fingers hold a block and a block stops where it is put.
OBJECT_FRICTION = 1.0

TABLE_EXTENT_X = (-0.35, 1.0)
TABLE_EXTENT_Y = (-0.65, 0.65)
TABLE_THICKNESS = 0.05
TABLE_COLOUR = (0.78, 0.66, 0.50, 1.0)


def rgba(colour: str | Sequence[float]) -> tuple[float, float, float, float]:
    """A named colour (see `COLOURS`) or an explicit RGBA tuple."""
    if isinstance(colour, str):
        try:
            return COLOURS[colour]
        except KeyError:
            raise ValueError(f"unknown colour {colour!r}; known: {', '.join(COLOURS)}") from None
    c = tuple(float(v) for v in colour)
    return (c[0], c[1], c[2], c[3] if len(c) > 3 else 1.0)


def _set_friction(client, body: int, link: int = -1, lateral: float = OBJECT_FRICTION) -> None:
    client.changeDynamics(
        body,
        link,
        lateralFriction=lateral,
        spinningFriction=0.001,
        rollingFriction=0.0001,
        restitution=0.0,
    )


def create_table(client) -> int:
    """A static box whose top face is the plane z = 0 (the world frame's table top)."""
    hx = (TABLE_EXTENT_X[1] - TABLE_EXTENT_X[0]) / 2
    hy = (TABLE_EXTENT_Y[1] - TABLE_EXTENT_Y[0]) / 2
    half = [hx, hy, TABLE_THICKNESS / 2]
    col = client.createCollisionShape(client.GEOM_BOX, halfExtents=half)
    vis = client.createVisualShape(client.GEOM_BOX, halfExtents=half, rgbaColor=TABLE_COLOUR)
    centre = [
        (TABLE_EXTENT_X[0] + TABLE_EXTENT_X[1]) / 2,
        (TABLE_EXTENT_Y[0] + TABLE_EXTENT_Y[1]) / 2,
        -TABLE_THICKNESS / 2,
    ]
    body = client.createMultiBody(0.0, col, vis, basePosition=centre)
    _set_friction(client, body, lateral=0.8)
    return body


def create_floor(client, z: float = -0.6) -> int:
    """A floor below the table, so fallen objects come to rest (and read as off the table)."""
    col = client.createCollisionShape(client.GEOM_PLANE)
    vis = client.createVisualShape(
        client.GEOM_BOX, halfExtents=[5.0, 5.0, 0.001], rgbaColor=(0.35, 0.35, 0.38, 1.0)
    )
    return client.createMultiBody(0.0, col, vis, basePosition=[0, 0, z])


def create_block(
    client,
    position: Sequence[float],
    colour: str | Sequence[float] = "red",
    *,
    size: float = BLOCK_SIZE,
    mass: float = BLOCK_MASS,
    yaw: float = 0.0,
) -> int:
    """A cube of side `size` centred at `position`."""
    half = [size / 2] * 3
    col = client.createCollisionShape(client.GEOM_BOX, halfExtents=half)
    vis = client.createVisualShape(client.GEOM_BOX, halfExtents=half, rgbaColor=rgba(colour))
    orn = client.getQuaternionFromEuler([0.0, 0.0, yaw])
    body = client.createMultiBody(mass, col, vis, basePosition=list(position), baseOrientation=orn)
    _set_friction(client, body)
    return body


def create_bowl(
    client,
    position: Sequence[float],
    colour: str | Sequence[float] = "blue",
    *,
    inner_radius: float = BOWL_INNER_RADIUS,
    height: float = BOWL_HEIGHT,
    wall: float = BOWL_WALL,
    floor: float = BOWL_FLOOR,
    segments: int = BOWL_SEGMENTS,
    mass: float = BOWL_MASS,
) -> int:
    """An open bowl: a flat floor plus a ring of thin wall boxes, as one compound body.

    `position` is the centre of the bounding box (floor bottom at position z - height / 2).
    A polygonal ring of boxes (not a mesh) keeps collision exact and cheap: a block resting
    inside touches only the floor box and, at most, one or two wall boxes.
    """
    half_extents: list[list[float]] = []
    frames: list[list[float]] = []
    orns: list[list[float]] = []
    # Floor: a regular polygon approximated by a square covering the inner disc plus walls.
    r_out = inner_radius + wall
    half_extents.append([r_out * 0.75, r_out * 0.75, floor / 2])
    frames.append([0.0, 0.0, -height / 2 + floor / 2])
    orns.append([0.0, 0.0, 0.0, 1.0])
    half_extents.append([r_out * 0.75, r_out * 0.75, floor / 2])
    frames.append([0.0, 0.0, -height / 2 + floor / 2])
    orns.append(list(client.getQuaternionFromEuler([0, 0, math.pi / 4])))
    # Walls: tangential boxes whose inner faces sit on the inner radius; long enough to close
    # the gaps between neighbours.
    wall_h = height - floor
    r_mid = inner_radius + wall / 2
    tangential = 2 * (inner_radius + wall) * math.tan(math.pi / segments) + 0.002
    for k in range(segments):
        a = 2 * math.pi * k / segments
        half_extents.append([wall / 2, tangential / 2, wall_h / 2])
        frames.append([r_mid * math.cos(a), r_mid * math.sin(a), -height / 2 + floor + wall_h / 2])
        orns.append(list(client.getQuaternionFromEuler([0, 0, a])))
    n = len(half_extents)
    col = client.createCollisionShapeArray(
        shapeTypes=[client.GEOM_BOX] * n,
        halfExtents=half_extents,
        collisionFramePositions=frames,
        collisionFrameOrientations=orns,
    )
    colour_rgba = rgba(colour)
    vis = client.createVisualShapeArray(
        shapeTypes=[client.GEOM_BOX] * n,
        halfExtents=half_extents,
        visualFramePositions=frames,
        visualFrameOrientations=orns,
    )
    body = client.createMultiBody(
        mass,
        col,
        vis,
        basePosition=list(position),
    )
    _set_friction(client, body)
    client.changeVisualShape(body, -1, rgbaColor=colour_rgba)
    return body
