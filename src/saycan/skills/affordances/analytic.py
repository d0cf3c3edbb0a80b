"""Geometric affordances: can this call succeed from the scene as perceived right now?

Recomputed before every decision from the current `SceneDescription` (never once per episode),
so a block that got covered, dropped or moved changes what the planner may choose.
"""

from __future__ import annotations

from saycan.drivers.base import MotionInterface
from saycan.drivers.types import TOP_DOWN, Pose
from saycan.perception.scene import SceneDescription
from saycan.skills.library import DEFAULT_PUSH_DISTANCE, PUSH_DIRECTIONS, place_surface
from saycan.skills.primitives import push_orientation, push_waypoints
from saycan.skills.types import SkillCall
from saycan.sim.scene_spec import WORKSPACE_X, WORKSPACE_Y

#: Margin (m) beyond the workspace that an object may lie in and still be handled.
WORKSPACE_MARGIN = 0.05
#: Height above an object at which reachability is checked (the approach pose).
APPROACH_HEIGHT = 0.10


class AnalyticAffordance:
    """Rules, each a reason a call cannot succeed; the value is `feasible_value` or 0.

    - the object exists, is a block, and nothing rests on it;
    - the gripper is not already holding a different object;
    - the target exists (object or named location), differs from the object, is not covered and
      does not rest on the object;
    - both the pick and the place poses are inside the workspace and reachable by IK.

    `push(object, direction)`: the object is a block resting on the table with nothing on it,
    the gripper holds nothing, no other object is in the way, and the push's start point and the
    block's end point are inside the workspace, with the start and end poses reachable by IK.
    `push_distance` must match the `Push` skill's distance.
    """

    name = "analytic"

    def __init__(
        self,
        motion: MotionInterface | None = None,
        feasible_value: float = 1.0,
        push_distance: float = DEFAULT_PUSH_DISTANCE,
    ):
        self.motion = motion
        self.feasible_value = float(feasible_value)
        self.push_distance = float(push_distance)

    def value(self, call: SkillCall, scene: SceneDescription) -> float:
        return self.feasible_value if self.why_not(call, scene) is None else 0.0

    def why_not(self, call: SkillCall, scene: SceneDescription) -> str | None:
        """The first reason the call cannot succeed, or None if it can."""
        if call.skill == "done":
            return None
        if call.skill == "push" and len(call.args) == 2:
            return self._why_not_push(call, scene)
        if call.skill != "pick_and_place" or len(call.args) != 2:
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
            if not _in_workspace(x, y):
                return f"the {label} is outside the workspace"
            if self.motion is not None and not self.motion.is_reachable(
                Pose((x, y, z + APPROACH_HEIGHT))
            ):
                return f"the {label} is out of the arm's reach"
        return None

    def _why_not_push(self, call: SkillCall, scene: SceneDescription) -> str | None:
        obj_name, direction = call.args
        obj = scene.get(obj_name)
        if obj is None:
            return f"{obj_name} is not in the scene"
        if obj.category != "block":
            return f"{obj_name} cannot be pushed"
        d = PUSH_DIRECTIONS.get(direction)
        if d is None:
            return f"unknown push direction {direction!r}"
        if scene.is_covered(obj_name):
            return f"something is on {obj_name}"
        if scene.holding is not None:
            return f"the gripper is holding {scene.holding}"
        support = scene.support_of(obj_name)
        if support is not None:
            return f"{obj_name} does not rest on the table ({support})"
        x, y, _ = obj.position
        dist = self.push_distance
        start, end_ee = push_waypoints(obj.position, obj.size, d, dist)
        end = (x + d[0] * dist, y + d[1] * dist)
        if not _in_workspace(start[0], start[1]):
            return "the push start point is outside the workspace"
        if not _in_workspace(*end):
            return "the push end point is outside the workspace"
        # Anything in the swept area (from the start point to the block's end footprint).
        half = max(obj.size[0], obj.size[1]) / 2
        for other in scene.objects:
            if other.name == obj_name:
                continue
            r = half + max(other.size[0], other.size[1]) / 2
            if _segment_distance(other.position[:2], start[:2], end) < r:
                return f"{other.name} is in the way"
        if self.motion is not None:
            orn = push_orientation(TOP_DOWN, d, start)
            for label, xyz in (("start", start), ("end", end_ee)):
                if not self.motion.is_reachable(Pose(xyz, orn)):
                    return f"the push {label} point is out of the arm's reach"
        return None


def _segment_distance(p, a, b) -> float:
    """Distance from point `p` to the segment `a`-`b` (xy)."""
    px, py, ax, ay, bx, by = (float(v) for v in (*p, *a, *b))
    vx, vy = bx - ax, by - ay
    n2 = vx * vx + vy * vy
    t = 0.0 if n2 == 0 else max(0.0, min(1.0, ((px - ax) * vx + (py - ay) * vy) / n2))
    return ((px - ax - t * vx) ** 2 + (py - ay - t * vy) ** 2) ** 0.5


def _in_workspace(x: float, y: float) -> bool:
    return (
        WORKSPACE_X[0] - WORKSPACE_MARGIN <= x <= WORKSPACE_X[1] + WORKSPACE_MARGIN
        and WORKSPACE_Y[0] - WORKSPACE_MARGIN <= y <= WORKSPACE_Y[1] + WORKSPACE_MARGIN
    )
