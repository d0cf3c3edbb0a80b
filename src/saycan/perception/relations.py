"""Derive `in` / `on` relations and what the gripper holds from estimated object poses.

Every perception backend (oracle or learned) ends here, so relations mean the same thing
whatever produced the positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from saycan.drivers.types import Observation
from saycan.perception.scene import Relation, SceneDescription, SceneObject
from saycan.world import (
    HELD_DISTANCE,
    LOCATIONS,
    WORKSPACE_X,
    WORKSPACE_Y,
    is_in_bowl,
    is_on,
    side_places,
)

#: An object whose centre is this far above the table, near the gripper, is held.
HELD_HEIGHT = 0.06


def relations_of(objects: Sequence[SceneObject]) -> tuple[Relation, ...]:
    rels: list[Relation] = []
    for obj in objects:
        if obj.category != "block":
            continue
        for other in objects:
            if other is obj:
                continue
            if other.category == "bowl" and is_in_bowl(obj.position, other.position):
                rels.append(Relation(obj.name, "in", other.name))
            elif other.category == "block" and is_on(
                obj.position, obj.size, other.position, other.size
            ):
                rels.append(Relation(obj.name, "on", other.name))
    return tuple(rels)


def held_object(
    objects: Sequence[SceneObject], ee_position: Sequence[float], gripper_closed_on_object: bool
) -> str | None:
    """The block between the fingers, if the gripper reports it is holding something."""
    if not gripper_closed_on_object:
        return None
    ee = np.asarray(ee_position, dtype=float)
    best = None
    for obj in objects:
        if obj.category != "block":
            continue
        d = float(np.linalg.norm(np.asarray(obj.position) - ee))
        if d < HELD_DISTANCE and obj.position[2] > HELD_HEIGHT and (best is None or d < best[0]):
            best = (d, obj.name)
    return best[1] if best else None


def describe_scene(objects: Sequence[SceneObject], obs: Observation) -> SceneDescription:
    """The one way every backend turns its detected objects into a `SceneDescription`, so the
    planner sees the same relations, holding rule and named locations whatever perceived them."""
    relations = relations_of(objects)
    holding = held_object(objects, obs.ee_position, obs.gripper_holding)
    return SceneDescription(
        objects=tuple(objects),
        relations=relations,
        holding=holding,
        locations={**LOCATIONS, **side_locations(objects, relations, holding)},
    )


def side_locations(
    objects: Sequence[SceneObject], relations: Sequence[Relation], holding: str | None
) -> dict[str, tuple[float, float, float]]:
    """The free sides of every object resting on the table (`left of the red block`, ...), as
    places a block can be put at: "put it to the left of the bowl", "a bit to the right"."""
    resting = {r.subject for r in relations}
    footprint = [(o.name, o.position[:2], max(o.size[0], o.size[1]) / 2) for o in objects]
    anchors = [f for f, o in zip(footprint, objects) if o.name not in resting and o.name != holding]
    places = side_places(anchors, footprint, (WORKSPACE_X, WORKSPACE_Y))
    return {name: (x, y, 0.0) for name, (x, y) in places.items()}
