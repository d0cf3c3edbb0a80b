"""`push(object, direction)`: push a block on the table by a fixed distance in a named
direction. Everything the stack asks of this skill is answered here; the distance is stated
once, in the skill's config, and read from the skill everywhere."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from saycan.drivers.base import MotionInterface
from saycan.drivers.types import TOP_DOWN, Pose
from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.skills import primitives
from saycan.skills.primitives import push_orientation, push_waypoints
from saycan.skills.push.directions import DIRECTIONS
from saycan.skills.push.features import NAMES, push_features
from saycan.skills.types import FailureReason, Placement, SkillCall, SkillResult
from saycan.skills.workspace import in_workspace, segment_distance

#: How far (m) a push moves the block unless configured otherwise.
DEFAULT_DISTANCE = 0.10
#: A push counts as done if the block moved at least this share of the intended distance.
SUCCESS_FRACTION = 0.5
#: Training labels (ground truth): tolerances (m) along the direction and sideways.
ATTEMPT_ALONG_TOL = 0.03
ATTEMPT_SIDEWAYS_TOL = 0.02


class Push:
    """Push a block on the table by `distance` (m) in one of the named directions."""

    name = "push"
    feature_names = NAMES

    def __init__(
        self,
        directions: Sequence[str] = ("left", "right", "forward", "backward"),
        distance: float = DEFAULT_DISTANCE,
        params: dict | None = None,
        push_params: dict | None = None,
    ):
        self.directions = [str(d) for d in directions]
        unknown = [d for d in self.directions if d not in DIRECTIONS]
        if unknown:
            raise ConfigError(f"unknown push direction(s) {unknown}; known: {list(DIRECTIONS)}")
        self.distance = float(distance)
        if self.distance <= 0:
            raise ConfigError(f"push distance must be positive, got {distance}")
        self.params = primitives.PrimitiveParams(**(params or {}))
        self.push_params = primitives.PushParams(**(push_params or {}))

    # -- arguments ------------------------------------------------------------------------------
    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        for obj in scene.names("block"):
            for direction in self.directions:
                yield SkillCall(self.name, (obj, direction))

    # -- motor program --------------------------------------------------------------------------
    def execute(
        self, call: SkillCall, motion: MotionInterface, scene: SceneDescription
    ) -> SkillResult:
        if len(call.args) != 2:
            return SkillResult(
                call, False, FailureReason.INVALID_TARGET, "needs (object, direction)"
            )
        obj = scene.get(call.args[0])
        if obj is None:
            return SkillResult(
                call, False, FailureReason.UNKNOWN_OBJECT, f"no {call.args[0]} in the scene"
            )
        direction = DIRECTIONS.get(call.args[1])
        if direction is None:
            return SkillResult(
                call, False, FailureReason.INVALID_TARGET, f"unknown direction {call.args[1]!r}"
            )
        if scene.holding is not None:
            return SkillResult(
                call, False, FailureReason.INVALID_TARGET, f"the gripper is holding {scene.holding}"
            )
        obstacles = [(o.position, o.size) for o in scene.objects if o.name != obj.name]
        return primitives.push(
            motion,
            obj.position,
            obj.size,
            direction,
            self.distance,
            params=self.params,
            push_params=self.push_params,
            obstacles=obstacles,
            call=call,
        )

    # -- analytic affordance --------------------------------------------------------------------
    def why_not(
        self, call: SkillCall, scene: SceneDescription, motion: MotionInterface | None
    ) -> str | None:
        """The object is a block resting on the table with nothing on it, the gripper holds
        nothing, no other object is in the way, and the push's start point and the block's end
        point are inside the workspace, with the start and end poses reachable by IK."""
        if len(call.args) != 2:
            return f"no rule for {call.to_text()}"
        obj_name, direction = call.args
        obj = scene.get(obj_name)
        if obj is None:
            return f"{obj_name} is not in the scene"
        if obj.category != "block":
            return f"{obj_name} cannot be pushed"
        d = DIRECTIONS.get(direction)
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
        dist = self.distance
        start, end_ee = push_waypoints(obj.position, obj.size, d, dist)
        end = (x + d[0] * dist, y + d[1] * dist)
        if not in_workspace(start[0], start[1]):
            return "the push start point is outside the workspace"
        if not in_workspace(*end):
            return "the push end point is outside the workspace"
        # Anything in the swept area (from the start point to the block's end footprint).
        half = max(obj.size[0], obj.size[1]) / 2
        for other in scene.objects:
            if other.name == obj_name:
                continue
            r = half + max(other.size[0], other.size[1]) / 2
            if segment_distance(other.position[:2], start[:2], end) < r:
                return f"{other.name} is in the way"
        if motion is not None:
            orn = push_orientation(TOP_DOWN, d, start)
            for label, xyz in (("start", start), ("end", end_ee)):
                if not motion.is_reachable(Pose(xyz, orn)):
                    return f"the push {label} point is out of the arm's reach"
        return None

    # -- learned affordance ---------------------------------------------------------------------
    def features(self, call: SkillCall, scene: SceneDescription) -> np.ndarray:
        return push_features(call, scene, self.distance)

    # -- intended effect (executor=teleport) ----------------------------------------------------
    def effect(self, call: SkillCall, scene: SceneDescription) -> tuple[Placement, ...]:
        obj = scene.get(call.args[0])
        dx, dy = DIRECTIONS[call.args[1]]
        x, y, z = obj.position
        return (Placement(obj.name, (x + dx * self.distance, y + dy * self.distance, z + 0.002)),)

    # -- per-step success -----------------------------------------------------------------------
    def succeeded(
        self, call: SkillCall, before: SceneDescription, after: SceneDescription
    ) -> bool | None:
        """The block moved at least `SUCCESS_FRACTION` of the distance the named way."""
        if len(call.args) != 2:
            return None
        obj, direction = call.args
        a, b = before.get(obj), after.get(obj)
        if a is None or b is None or direction not in DIRECTIONS:
            return False
        shift = np.asarray(b.position[:2]) - np.asarray(a.position[:2])
        return (
            float(shift @ np.asarray(DIRECTIONS[direction], float))
            >= SUCCESS_FRACTION * self.distance
        )

    # -- disturbance hooks ----------------------------------------------------------------------
    def carried(self, call: SkillCall) -> str | None:
        """Nothing: the block slides along the table, it is never lifted."""
        return None

    # -- training the learned affordance --------------------------------------------------------
    def malformed_calls(self, scene: SceneDescription) -> list[SkillCall]:
        return [SkillCall(self.name, (w, d)) for w in scene.names("bowl") for d in DIRECTIONS]

    def sample_call(self, rng: np.random.Generator, obj: str, scene: SceneDescription) -> SkillCall:
        return SkillCall(self.name, (obj, list(DIRECTIONS)[int(rng.integers(len(DIRECTIONS)))]))

    def attempt_outcome(
        self, call: SkillCall, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> tuple[bool, set[str]]:
        """Moved by `distance` the named way (within `ATTEMPT_ALONG_TOL`), not sideways or up."""
        obj = call.args[0]
        d = DIRECTIONS[call.args[1]]
        delta = np.subtract(after[obj].position, before[obj].position)
        along, sideways = delta[0] * d[0] + delta[1] * d[1], abs(-delta[0] * d[1] + delta[1] * d[0])
        holds = (
            abs(along - self.distance) < ATTEMPT_ALONG_TOL
            and sideways < ATTEMPT_SIDEWAYS_TOL
            and abs(delta[2]) < 0.01
        )
        return bool(holds), {obj}
