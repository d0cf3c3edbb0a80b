"""`executor=teleport`: apply a skill's intended effect directly to object poses.

Planning success is judged under this executor, apart from manipulation errors (SayCan's
"planning" vs "execution" success). Calls that could not succeed physically (object covered,
target invalid, out of reach) still fail, with the same reasons as the analytic affordance.
Each skill states its effect as `Placement`s on the world (`Skill.effect`); this executor
applies them through the driver's `SimulatorExtras`, which the runner binds once, so no skill
imports the simulator.
"""

from __future__ import annotations

from saycan.drivers.base import RobotDriver, SimulatorExtras
from saycan.errors import DriverError
from saycan.perception.scene import SceneDescription
from saycan.skills.base import SkillLibrary
from saycan.skills.types import FailureReason, SkillCall, SkillResult


class TeleportExecutor:
    name = "teleport"

    def __init__(self, skills: SkillLibrary, check_reachability: bool = True):
        self.skills = skills
        self.check_reachability = check_reachability
        self._sim: SimulatorExtras | None = None

    def bind_simulator(self, sim: SimulatorExtras) -> None:
        self._sim = sim

    def execute(self, call: SkillCall, driver: RobotDriver, scene: SceneDescription) -> SkillResult:
        why = self.skills.why_not(call, scene, driver.motion if self.check_reachability else None)
        if why is not None:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, why)
        placements = self.skills.effect(call, scene)
        if not placements:  # moves nothing (done): nothing for a simulator to do
            return SkillResult(call, True)
        if self._sim is None:
            raise DriverError("executor=teleport needs a simulator driver bound to it")
        steps = sum(self._sim.teleport_object(p.object, p.position) for p in placements)
        return SkillResult(call, True, steps=steps)
