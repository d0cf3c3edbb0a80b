"""Geometric affordances: can this call succeed from the scene as perceived right now?

Recomputed before every decision from the current `SceneDescription` (never once per episode),
so a block that got covered, dropped or moved changes what the planner may choose.
"""

from __future__ import annotations

from saycan.drivers.base import MotionInterface
from saycan.drivers.types import Pose
from saycan.perception.scene import SceneDescription
from saycan.skills.library import place_surface
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
    """

    name = "analytic"

    def __init__(self, motion: MotionInterface | None = None, feasible_value: float = 1.0):
        self.motion = motion
        self.feasible_value = float(feasible_value)

    def value(self, call: SkillCall, scene: SceneDescription) -> float:
        return self.feasible_value if self.why_not(call, scene) is None else 0.0

    def why_not(self, call: SkillCall, scene: SceneDescription) -> str | None:
        """The first reason the call cannot succeed, or None if it can."""
        if call.skill == "done":
            return None
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


def _in_workspace(x: float, y: float) -> bool:
    return (
        WORKSPACE_X[0] - WORKSPACE_MARGIN <= x <= WORKSPACE_X[1] + WORKSPACE_MARGIN
        and WORKSPACE_Y[0] - WORKSPACE_MARGIN <= y <= WORKSPACE_Y[1] + WORKSPACE_MARGIN
    )
