"""Per-episode object memory for camera backends: a block the camera saw before stays in the
scene while the scene itself explains why it is out of sight now.

One top-down camera cannot see a block under another block or inside the closed gripper, yet
the robot put it there (or saw it before something was put on it). Forgetting it would make
the planner believe the block vanished. Only two explanations are accepted, both read from
the current frame and proprioception, never from simulator state:

- covered: a block seen now stands on the remembered position (same xy, higher up);
- held: the gripper reports it is closed on something and no visible block is between the
  fingers; the remembered block then is the one in the hand (the one held before, else the
  one last seen nearest the gripper) and is reported at the gripper's position.

A block never seen before that shows up where a missing remembered block was is that block
(its colour misread). Anything else that disappears (moved out of view, fell off) is
forgotten. `reset()` must be called when an episode starts (`runtime/episode.py` calls
`perception.reset`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from saycan.drivers.types import Vec3
from saycan.perception.relations import HELD_HEIGHT
from saycan.perception.scene import SceneObject
from saycan.world import HELD_DISTANCE

#: A visible block this close (m, in xy) to a remembered block's position, and higher, covers it.
COVER_RADIUS = 0.03
#: ... and its centre is at least this much (m) higher (half a block: it rests on top).
COVER_HEIGHT = 0.02
#: Remembered objects are reported with their confidence scaled by this (not seen this frame).
RECALL_CONFIDENCE = 0.5


def holds_visible_block(objects: Sequence[SceneObject], ee_position: Vec3) -> bool:
    """Is a block seen between the fingers (the rule `relations.held_object` applies)?"""
    ee = np.asarray(ee_position, dtype=float)
    return any(
        o.category == "block"
        and o.position[2] > HELD_HEIGHT
        and float(np.linalg.norm(np.asarray(o.position) - ee)) < HELD_DISTANCE
        for o in objects
    )


class ObjectMemory:
    """What one episode's camera frames have shown so far (see the module docstring)."""

    def __init__(self) -> None:
        self.remembered: dict[str, SceneObject] = {}
        self.held: str | None = None

    def reset(self) -> None:
        self.remembered.clear()
        self.held = None

    def _identify(self, obj: SceneObject, missing: list[SceneObject]) -> SceneObject:
        """A block never seen before in this episode, where a remembered block that is missing
        now was, is that block with its colour misread (the dark sides of a covered block are
        often given another colour); a new block cannot appear from nowhere mid-episode."""
        if not self.remembered or obj.name in self.remembered or obj.category != "block":
            return obj
        for old in missing:
            if old.category == "block" and _same_place(obj, old):
                missing.remove(old)
                return replace(
                    obj,
                    name=old.name,
                    colour=old.colour,
                    confidence=obj.confidence * RECALL_CONFIDENCE,
                )
        return obj

    def recall(
        self, seen: Sequence[SceneObject], ee_position: Vec3, holding: bool
    ) -> list[SceneObject]:
        """`seen` plus remembered objects hidden for a reason this frame shows; updates memory."""
        names = {o.name for o in seen}
        missing = [o for name, o in self.remembered.items() if name not in names]
        objects = [self._identify(o, missing) for o in seen]
        for old in list(missing):
            if _covered(old, seen):
                objects.append(replace(old, confidence=old.confidence * RECALL_CONFIDENCE))
                missing.remove(old)
        in_hand = None
        if holding and not holds_visible_block(seen, ee_position):
            in_hand = _block_in_hand(missing, ee_position, self.held)
            if in_hand is not None:
                ee = tuple(float(v) for v in ee_position)
                objects.append(
                    replace(in_hand, position=ee, confidence=in_hand.confidence * RECALL_CONFIDENCE)
                )
        self.remembered = {o.name: o for o in objects}
        self.held = (
            in_hand.name if in_hand is not None else _visible_held(seen, ee_position, holding)
        )
        return objects


def _same_place(a: SceneObject, b: SceneObject) -> bool:
    return (
        float(np.linalg.norm(np.subtract(a.position[:2], b.position[:2]))) < COVER_RADIUS
        and abs(a.position[2] - b.position[2]) < COVER_HEIGHT
    )


def _covered(old: SceneObject, seen: Sequence[SceneObject]) -> bool:
    return old.category == "block" and any(
        o.category == "block"
        and float(np.linalg.norm(np.subtract(o.position[:2], old.position[:2]))) < COVER_RADIUS
        and o.position[2] > old.position[2] + COVER_HEIGHT
        for o in seen
    )


def _block_in_hand(
    missing: Sequence[SceneObject], ee_position: Vec3, held_before: str | None
) -> SceneObject | None:
    blocks = [o for o in missing if o.category == "block"]
    if not blocks:
        return None
    before = next((o for o in blocks if o.name == held_before), None)
    if before is not None:
        return before
    ee = np.asarray(ee_position, dtype=float)[:2]
    return min(blocks, key=lambda o: float(np.linalg.norm(np.asarray(o.position[:2]) - ee)))


def _visible_held(seen: Sequence[SceneObject], ee_position: Vec3, holding: bool) -> str | None:
    if not holding:
        return None
    ee = np.asarray(ee_position, dtype=float)
    near = [
        o
        for o in seen
        if o.category == "block"
        and o.position[2] > HELD_HEIGHT
        and np.linalg.norm(np.asarray(o.position) - ee) < HELD_DISTANCE
    ]
    return (
        min(near, key=lambda o: float(np.linalg.norm(np.asarray(o.position) - ee))).name
        if near
        else None
    )
