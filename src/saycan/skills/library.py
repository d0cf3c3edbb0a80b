"""The tabletop skills: `pick_and_place(object, target)`, `push(object, direction)` and `done()`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from saycan.drivers.base import MotionInterface
from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.skills import primitives
from saycan.skills.types import DONE, FailureReason, SkillCall, SkillResult
from saycan.sim.geometry import BOWL_HEIGHT

#: Push directions in the world frame (unit xy): left = +y, forward = +x (away from the robot).
PUSH_DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (0.0, 1.0),
    "right": (0.0, -1.0),
    "forward": (1.0, 0.0),
    "backward": (-1.0, 0.0),
}
#: How far (m) a push moves the block unless configured otherwise.
DEFAULT_PUSH_DISTANCE = 0.10

#: Thickness of a bowl's floor: placed objects rest this far above the bowl's bottom.
BOWL_FLOOR = 0.005


def place_surface(scene: SceneDescription, target: str) -> tuple[float, float, float] | None:
    """Where an object placed on `target` will rest: (x, y, z of the supporting surface)."""
    obj = scene.get(target)
    if obj is None:
        if target in scene.locations:
            x, y, _ = scene.locations[target]
            return (x, y, 0.0)
        return None
    x, y, z = obj.position
    if obj.category == "bowl":
        return (x, y, z - BOWL_HEIGHT / 2 + BOWL_FLOOR)
    return (x, y, z + obj.size[2] / 2)


class PickAndPlace:
    """Pick a block and place it on a block, in a bowl, or at a named table location."""

    name = "pick_and_place"

    def __init__(self, include_locations: bool = True, params: dict | None = None):
        self.include_locations = include_locations
        self.params = primitives.PrimitiveParams(**(params or {}))

    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        blocks = scene.names("block")
        targets = blocks + scene.names("bowl")
        if self.include_locations:
            targets += list(scene.locations)
        for obj in blocks:
            for target in targets:
                if target != obj:
                    yield SkillCall(self.name, (obj, target))

    def execute(self, call: SkillCall, motion: MotionInterface, scene: SceneDescription) -> SkillResult:
        if len(call.args) != 2:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, "needs (object, target)")
        obj = scene.get(call.args[0])
        if obj is None:
            return SkillResult(call, False, FailureReason.UNKNOWN_OBJECT, f"no {call.args[0]} in the scene")
        surface = place_surface(scene, call.args[1])
        if surface is None or call.args[1] == obj.name:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, f"cannot place on {call.args[1]}")
        if scene.holding not in (None, obj.name):
            return SkillResult(call, False, FailureReason.INVALID_TARGET, f"the gripper is holding {scene.holding}")
        # Every other object is an obstacle for the fingers (the primitive ignores the ones under
        # the grasp or release point, i.e. the target itself).
        obstacles = [(o.position, o.size) for o in scene.objects if o.name != obj.name]
        return primitives.pick_and_place(
            motion, obj, surface, call, params=self.params, obstacles=obstacles, held=scene.holding == obj.name
        )


class Push:
    """Push a block on the table by a fixed distance in one of the named directions."""

    name = "push"

    def __init__(
        self,
        directions: Sequence[str] = ("left", "right", "forward", "backward"),
        distance: float = DEFAULT_PUSH_DISTANCE,
        params: dict | None = None,
        push_params: dict | None = None,
    ):
        self.directions = [str(d) for d in directions]
        unknown = [d for d in self.directions if d not in PUSH_DIRECTIONS]
        if unknown:
            raise ConfigError(f"unknown push direction(s) {unknown}; known: {list(PUSH_DIRECTIONS)}")
        self.distance = float(distance)
        if self.distance <= 0:
            raise ConfigError(f"push distance must be positive, got {distance}")
        self.params = primitives.PrimitiveParams(**(params or {}))
        self.push_params = primitives.PushParams(**(push_params or {}))

    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        for obj in scene.names("block"):
            for direction in self.directions:
                yield SkillCall(self.name, (obj, direction))

    def execute(self, call: SkillCall, motion: MotionInterface, scene: SceneDescription) -> SkillResult:
        if len(call.args) != 2:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, "needs (object, direction)")
        obj = scene.get(call.args[0])
        if obj is None:
            return SkillResult(call, False, FailureReason.UNKNOWN_OBJECT, f"no {call.args[0]} in the scene")
        direction = PUSH_DIRECTIONS.get(call.args[1])
        if direction is None:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, f"unknown direction {call.args[1]!r}")
        if scene.holding is not None:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, f"the gripper is holding {scene.holding}")
        obstacles = [(o.position, o.size) for o in scene.objects if o.name != obj.name]
        return primitives.push(
            motion, obj.position, obj.size, direction, self.distance,
            params=self.params, push_params=self.push_params, obstacles=obstacles, call=call,
        )


class Done:
    """Declare the instruction finished; ends the episode."""

    name = "done"

    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        yield DONE

    def execute(self, call: SkillCall, motion: MotionInterface, scene: SceneDescription) -> SkillResult:
        return SkillResult(call, True)
