"""`executor=teleport`: apply a skill's intended effect directly to object poses.

Planning success is judged under this executor, apart from manipulation errors (SayCan's
"planning" vs "execution" success). Calls that could not succeed physically (object covered,
target invalid, out of reach) still fail, with the same reasons as the analytic affordance.
Needs a driver with `SimulatorExtras` (it sets object poses): the runner binds it once.
"""

from __future__ import annotations

import numpy as np

from saycan.drivers.base import RobotDriver, SimulatorExtras
from saycan.errors import DriverError
from saycan.perception.scene import SceneDescription
from saycan.sim.geometry import BOWL_INNER_RADIUS
from saycan.skills.affordances.analytic import AnalyticAffordance
from saycan.skills.base import SkillLibrary
from saycan.skills.library import DEFAULT_PUSH_DISTANCE, PUSH_DIRECTIONS, place_surface
from saycan.skills.types import DONE, FailureReason, SkillCall, SkillResult


class TeleportExecutor:
    name = "teleport"

    def __init__(self, skills: SkillLibrary, check_reachability: bool = True):
        self.skills = skills
        self.check_reachability = check_reachability
        self._sim: SimulatorExtras | None = None

    def bind_simulator(self, sim: SimulatorExtras) -> None:
        self._sim = sim

    def execute(self, call: SkillCall, driver: RobotDriver, scene: SceneDescription) -> SkillResult:
        if call == DONE:
            return SkillResult(call, True)
        if self._sim is None:
            raise DriverError("executor=teleport needs a simulator driver bound to it")
        push_distance = _push_distance(self.skills)
        rules = AnalyticAffordance(driver.motion if self.check_reachability else None, push_distance=push_distance)
        why = rules.why_not(call, scene)
        if why is not None:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, why)
        if call.skill == "push":
            obj = scene.get(call.args[0])
            dx, dy = PUSH_DIRECTIONS[call.args[1]]
            x, y, z = obj.position
            target = (x + dx * push_distance, y + dy * push_distance, z + 0.002)
            steps = self._sim.teleport_object(obj.name, target)
            return SkillResult(call, True, steps=steps)
        obj_name, target_name = call.args
        obj = scene.get(obj_name)
        x, y, z = place_surface(scene, target_name)
        target = scene.get(target_name)
        if target is not None and target.category == "bowl":
            z = _top_of_contents(scene, obj_name, np.array([x, y]), z)
        steps = self._sim.teleport_object(obj_name, (x, y, z + obj.size[2] / 2 + 0.002))
        return SkillResult(call, True, steps=steps)


def _push_distance(skills: SkillLibrary) -> float:
    """The library's `push` skill distance (the default when it has none)."""
    push = skills.get("push")
    return float(getattr(push, "distance", DEFAULT_PUSH_DISTANCE))


def _top_of_contents(scene: SceneDescription, moving: str, centre: np.ndarray, floor: float) -> float:
    """A bowl holds one block on its floor; a later one lands on top of what is already there,
    as a physical place would."""
    tops = [
        o.position[2] + o.size[2] / 2
        for o in scene.objects
        if o.category == "block" and o.name != moving
        and np.linalg.norm(np.asarray(o.position[:2]) - centre) < BOWL_INNER_RADIUS
    ]
    return max([floor, *tops])
