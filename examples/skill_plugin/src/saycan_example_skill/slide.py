"""`slide(object, place)`: push a block or a bowl along the table to a named place.

One unit, like every skill: its arguments and candidates, its motor program, why a call cannot
succeed, its intended effect, its success check, how the task expert uses it and what a
disturbance may act on. It has no learned affordance (`affordance=analytic` judges it; the
learned model gives a skill it has no model for 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from saycan.drivers.base import MotionInterface
from saycan.drivers.types import TOP_DOWN, Pose
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.skills import primitives
from saycan.skills.types import ExpertMove, FailureReason, Placement, SkillCall, SkillResult
from saycan.skills.workspace import in_workspace, segment_distance
from saycan.world import xy_distance

#: A place closer than this (m) is already reached: nothing to push.
ALREADY_THERE = 0.005


class Slide:
    """Push an object (a block or a bowl) in a straight line to a named place on the table."""

    name = "slide"

    def __init__(
        self,
        objects: Sequence[str] = ("block", "bowl"),
        tolerance: float = 0.05,
        params: dict | None = None,
        push_params: dict | None = None,
    ):
        self.objects = tuple(objects)
        self.tolerance = float(tolerance)
        self.params = primitives.PrimitiveParams(**(params or {}))
        self.push_params = primitives.PushParams(**(push_params or {}))

    # -- arguments ------------------------------------------------------------------------------
    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        for category in self.objects:
            for obj in scene.names(category):
                for place in scene.locations:
                    yield SkillCall(self.name, (obj, place))

    # -- the straight push that ends the object at the place -------------------------------------
    def _path(self, obj: SceneObject, place: Sequence[float]) -> tuple[tuple[float, float], float]:
        """The unit direction and the distance to ask the push primitive for. It places its start
        behind the object's bounding box; a bowl is round, so pushed along a diagonal the fingers
        meet its wall later, by the box's extent along the direction minus the radius."""
        dx, dy = place[0] - obj.position[0], place[1] - obj.position[1]
        distance = math.hypot(dx, dy)
        u = (dx / distance, dy / distance) if distance > 0 else (1.0, 0.0)
        if obj.category == "bowl":
            box = (abs(u[0]) * obj.size[0] + abs(u[1]) * obj.size[1]) / 2
            distance += box - obj.size[0] / 2
        return u, distance

    # -- motor program --------------------------------------------------------------------------
    def execute(
        self, call: SkillCall, motion: MotionInterface, scene: SceneDescription
    ) -> SkillResult:
        why = self.why_not(call, scene, None)
        if why is not None:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, why)
        obj = scene.get(call.args[0])
        place = scene.locations[call.args[1]]
        if xy_distance(obj.position, place) < ALREADY_THERE:
            return SkillResult(call, True)
        u, distance = self._path(obj, place)
        obstacles = [(o.position, o.size) for o in scene.objects if o.name != obj.name]
        return primitives.push(
            motion,
            obj.position,
            obj.size,
            u,
            distance,
            params=self.params,
            push_params=self.push_params,
            obstacles=obstacles,
            call=call,
        )

    # -- analytic affordance --------------------------------------------------------------------
    def why_not(
        self, call: SkillCall, scene: SceneDescription, motion: MotionInterface | None
    ) -> str | None:
        """The object rests on the table with nothing on or in it, the gripper is empty, the
        place is a named location, nothing is in the swept path, the object and the place are
        inside the workspace and the push's start and end poses are reachable."""
        if len(call.args) != 2:
            return f"no rule for {call.to_text()}"
        obj_name, place_name = call.args
        obj = scene.get(obj_name)
        if obj is None:
            return f"{obj_name} is not in the scene"
        if obj.category not in self.objects:
            return f"{obj_name} cannot be slid"
        if place_name not in scene.locations:
            return f"{place_name} is not a place on the table"
        if scene.holding is not None:
            return f"the gripper is holding {scene.holding}"
        if scene.support_of(obj_name) is not None:
            return f"{obj_name} does not rest on the table"
        if any(r.object == obj_name for r in scene.relations):
            return f"something is on or in {obj_name}"
        place = scene.locations[place_name]
        if xy_distance(obj.position, place) < ALREADY_THERE:
            return None
        u, distance = self._path(obj, place)
        start, end_ee = primitives.push_waypoints(
            obj.position, obj.size, u, distance, self.push_params
        )
        # The object and the place must be on the workspace; the fingers may start beyond it
        # (behind a bowl near the edge), where reachability and the safety gate judge them.
        if not in_workspace(obj.position[0], obj.position[1]) or not in_workspace(
            place[0], place[1]
        ):
            return "the object or the place is outside the workspace"
        half = max(obj.size[0], obj.size[1]) / 2
        for other in scene.objects:
            if other.name != obj_name and segment_distance(other.position, start, place) < (
                half + max(other.size[0], other.size[1]) / 2
            ):
                return f"{other.name} is in the way"
        if motion is not None:
            orn = primitives.push_orientation(TOP_DOWN, u, start)
            for label, xyz in (("start", start), ("end", end_ee)):
                if not motion.is_reachable(Pose(xyz, orn)):
                    return f"the slide's {label} is out of the arm's reach"
        return None

    # -- intended effect (executor=teleport) ----------------------------------------------------
    def effect(self, call: SkillCall, scene: SceneDescription) -> tuple[Placement, ...]:
        obj = scene.get(call.args[0])
        x, y, _ = scene.locations[call.args[1]]
        return (Placement(obj.name, (x, y, obj.position[2] + 0.002)),)

    # -- per-step success -----------------------------------------------------------------------
    def succeeded(
        self, call: SkillCall, before: SceneDescription, after: SceneDescription
    ) -> bool | None:
        if len(call.args) != 2 or call.args[1] not in after.locations:
            return None
        moved = after.get(call.args[0])
        return (
            moved is not None
            and xy_distance(moved.position, after.locations[call.args[1]]) < self.tolerance
        )

    # -- the task expert ------------------------------------------------------------------------
    def expert_call(self, move: ExpertMove) -> SkillCall | None:
        """Any move of an object this skill slides to a named place (the library asks skills in
        order, so with pick_and_place first, blocks are still picked and only bowls slide)."""
        if move.obj_category in self.objects and move.target_category == "location":
            return SkillCall(self.name, (move.obj, move.target))
        return None

    # -- disturbance hooks ----------------------------------------------------------------------
    def carried(self, call: SkillCall) -> str | None:
        return None  # it never leaves the table
