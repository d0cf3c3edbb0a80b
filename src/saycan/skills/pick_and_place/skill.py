"""`pick_and_place(object, target)`: pick a block and place it on a block, in a bowl, or at a
named table location. Everything the stack asks of this skill is answered here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from saycan.drivers.base import MotionInterface
from saycan.drivers.types import Pose
from saycan.perception.scene import SceneDescription
from saycan.skills import primitives
from saycan.skills.pick_and_place import expert
from saycan.skills.pick_and_place.features import NAMES, place_features
from saycan.skills.pick_and_place.surface import place_surface
from saycan.skills.types import ExpertMove, FailureReason, Placement, SkillCall, SkillResult
from saycan.skills.workspace import in_workspace
from saycan.world import BOWL_INNER_RADIUS, LOCATIONS, is_at, is_in_bowl, is_on, xy_distance

#: Height above an object at which reachability is checked (the approach pose).
APPROACH_HEIGHT = 0.10
#: How close (m, in the table plane) a block must end to a named location to count as there.
LOCATION_TOLERANCE = 0.05


class PickAndPlace:
    """Pick a block and place it on a block, in a bowl, or at a named table location."""

    name = expert.NAME
    feature_names = NAMES

    def __init__(
        self,
        include_locations: bool = True,
        params: dict | None = None,
        location_tolerance: float = LOCATION_TOLERANCE,
        side_places: bool = False,
    ):
        self.include_locations = include_locations
        # The sides of objects ("left of the red bowl") roughly double the candidate list:
        # a library may leave them out and keep only the table's fixed named places.
        self.side_places = side_places
        self.params = primitives.PrimitiveParams(**(params or {}))
        self.location_tolerance = float(location_tolerance)

    # -- arguments ------------------------------------------------------------------------------
    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        blocks = scene.names("block")
        targets = blocks + scene.names("bowl")
        if self.include_locations:
            targets += [p for p in scene.locations if self.side_places or p in LOCATIONS]
        for obj in blocks:
            for target in targets:
                if target != obj:
                    yield SkillCall(self.name, (obj, target))

    # -- motor program --------------------------------------------------------------------------
    def execute(
        self, call: SkillCall, motion: MotionInterface, scene: SceneDescription
    ) -> SkillResult:
        if len(call.args) != 2:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, "needs (object, target)")
        obj = scene.get(call.args[0])
        if obj is None:
            return SkillResult(
                call, False, FailureReason.UNKNOWN_OBJECT, f"no {call.args[0]} in the scene"
            )
        surface = place_surface(scene, call.args[1])
        if surface is None or call.args[1] == obj.name:
            return SkillResult(
                call, False, FailureReason.INVALID_TARGET, f"cannot place on {call.args[1]}"
            )
        if scene.holding not in (None, obj.name):
            return SkillResult(
                call, False, FailureReason.INVALID_TARGET, f"the gripper is holding {scene.holding}"
            )
        # Every other object is an obstacle for the fingers (the primitive ignores the ones under
        # the grasp or release point, i.e. the target itself).
        obstacles = [(o.position, o.size) for o in scene.objects if o.name != obj.name]
        return primitives.pick_and_place(
            motion,
            obj,
            surface,
            call,
            params=self.params,
            obstacles=obstacles,
            held=scene.holding == obj.name,
        )

    # -- analytic affordance --------------------------------------------------------------------
    def why_not(
        self, call: SkillCall, scene: SceneDescription, motion: MotionInterface | None
    ) -> str | None:
        """The object exists, is a block, and nothing rests on it; the gripper holds nothing
        else; the target exists (object or named location), differs from the object, is not
        covered and does not rest on the object; both the pick and the place poses are inside
        the workspace and reachable by IK."""
        if len(call.args) != 2:
            return f"no rule for {call.to_text()}"
        obj_name, target_name = call.args
        obj = scene.get(obj_name)
        if obj is None:
            return f"{obj_name} is not in the scene"
        if obj.category != "block":
            return f"{obj_name} cannot be picked"
        if scene.is_covered(obj_name):
            return f"something is on {obj_name}"
        if scene.holding not in (None, obj_name):
            return f"the gripper is holding {scene.holding}"
        if target_name == obj_name:
            return "object and target are the same"
        surface = place_surface(scene, target_name)
        if surface is None:
            return f"{target_name} is not in the scene"
        target = scene.get(target_name)
        if target is not None:
            if target.category == "block" and scene.is_covered(target_name):
                return f"something is already on {target_name}"
            if scene.support_of(target_name) == obj_name:
                return f"{target_name} rests on {obj_name}"
        for label, (x, y, z) in (("object", obj.position), ("target", surface)):
            if not in_workspace(x, y):
                return f"the {label} is outside the workspace"
            if motion is not None and not motion.is_reachable(Pose((x, y, z + APPROACH_HEIGHT))):
                return f"the {label} is out of the arm's reach"
        return None

    # -- learned affordance ---------------------------------------------------------------------
    def features(self, call: SkillCall, scene: SceneDescription) -> np.ndarray:
        return place_features(call, scene)

    # -- intended effect (executor=teleport) ----------------------------------------------------
    def effect(self, call: SkillCall, scene: SceneDescription) -> tuple[Placement, ...]:
        obj_name, target_name = call.args
        obj = scene.get(obj_name)
        x, y, z = place_surface(scene, target_name)
        target = scene.get(target_name)
        if target is not None and target.category == "bowl":
            z = _top_of_contents(scene, obj_name, np.array([x, y]), z)
        return (Placement(obj_name, (x, y, z + obj.size[2] / 2 + 0.002)),)

    # -- per-step success -----------------------------------------------------------------------
    def succeeded(
        self, call: SkillCall, before: SceneDescription, after: SceneDescription
    ) -> bool | None:
        """X's relation to Y in the perceived scene: in the bowl, on the block, or within
        `location_tolerance` of the location."""
        if len(call.args) != 2:
            return None
        obj, target = call.args
        moved = after.get(obj)
        if moved is None or after.holding == obj:
            return False
        goal = after.get(target)
        if goal is None:
            # Where the place was when the skill was chosen: a side of the moved block itself
            # ("a bit to the right of it") has moved with it since.
            place = before.locations.get(target, after.locations.get(target))
            if place is None:
                return False
            return xy_distance(moved.position, place) < self.location_tolerance
        if goal.category == "bowl":
            return _rests_in(obj, target, after)
        return any(
            r.subject == obj and r.predicate == "on" and r.object == target for r in after.relations
        )

    # -- the task expert ------------------------------------------------------------------------
    def expert_call(self, move: ExpertMove) -> SkillCall | None:
        return expert.expert_call(move)

    # -- disturbance hooks ----------------------------------------------------------------------
    def carried(self, call: SkillCall) -> str | None:
        """The picked object: it was lifted and carried to its new place."""
        return call.args[0] if call.args else None

    # -- training the learned affordance --------------------------------------------------------
    def malformed_calls(self, scene: SceneDescription) -> list[SkillCall]:
        blocks, bowls, places = scene.names("block"), scene.names("bowl"), list(scene.locations)
        return (
            [SkillCall(self.name, (b, b)) for b in blocks]
            + [
                SkillCall(self.name, (b, "purple bowl"))
                for b in blocks
                if "purple bowl" not in bowls
            ]
            + [SkillCall(self.name, (w, t)) for w in bowls for t in [*blocks, *places]]
            + [SkillCall(self.name, ("missing block", t)) for t in [*bowls, *places]]
        )

    def sample_call(self, rng: np.random.Generator, obj: str, scene: SceneDescription) -> SkillCall:
        targets = [
            t for t in [*scene.names("block"), *scene.names("bowl"), *scene.locations] if t != obj
        ]
        return SkillCall(self.name, (obj, targets[int(rng.integers(len(targets)))]))

    def attempt_outcome(
        self, call: SkillCall, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> tuple[bool, set[str]]:
        """In the bowl / on the block / at the location (and down on the table)."""
        obj, target = call.args
        moved = after[obj]
        if target in LOCATIONS:
            holds = is_at(moved.position, LOCATIONS[target]) and moved.position[2] < 0.03
        elif after[target].category == "bowl":
            holds = is_in_bowl(moved.position, after[target].position)
        else:
            t = after[target]
            holds = is_on(moved.position, moved.size, t.position, t.size)
        return holds, {obj, target}


def _rests_in(obj: str, bowl: str, scene: SceneDescription, depth: int = 0) -> bool:
    """In the bowl, or on a block that (transitively) is: a pile in a bowl is in it."""
    for r in scene.relations:
        if r.subject != obj:
            continue
        if r.predicate == "in" and r.object == bowl:
            return True
        if r.predicate == "on" and depth < 6 and _rests_in(r.object, bowl, scene, depth + 1):
            return True
    return False


def _top_of_contents(
    scene: SceneDescription, moving: str, centre: np.ndarray, floor: float
) -> float:
    """A bowl holds one block on its floor; a later one lands on top of what is already there,
    as a physical place would."""
    tops = [
        o.position[2] + o.size[2] / 2
        for o in scene.objects
        if o.category == "block"
        and o.name != moving
        and np.linalg.norm(np.asarray(o.position[:2]) - centre) < BOWL_INNER_RADIUS
    ]
    return max([floor, *tops])
