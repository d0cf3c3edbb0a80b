"""The closed loop: perceive, decide, execute, perceive again, until `done` or the step budget.

Only protocols are used here (driver, perception, planner, executor), so the same loop runs a
simulated or a physical robot; nothing in `planner/` imports pybullet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from saycan.drivers.base import RobotDriver
from saycan.drivers.types import Observation
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import Decision
from saycan.skills.base import SkillLibrary
from saycan.skills.types import DONE, SkillCall, SkillResult


class Perception(Protocol):
    name: str

    def perceive(self, obs: Observation) -> SceneDescription: ...


class Planner(Protocol):
    name: str

    def decide(self, instruction: str, scene: SceneDescription, history: list[SkillCall]) -> Decision: ...


class Executor(Protocol):
    """Turns a chosen call into action: motor primitives (`physics`) or a direct effect."""

    name: str

    def execute(self, call: SkillCall, driver: RobotDriver, scene: SceneDescription) -> SkillResult: ...


class PhysicsExecutor:
    """Runs the skill's motor primitives through the driver's `MotionInterface`."""

    name = "physics"

    def __init__(self, skills: SkillLibrary):
        self.skills = skills

    def execute(self, call: SkillCall, driver: RobotDriver, scene: SceneDescription) -> SkillResult:
        return self.skills.execute(call, driver.motion, scene)


@dataclass
class StepRecord:
    index: int
    scene: SceneDescription
    decision: Decision
    result: SkillResult | None  # None when the planner chose `done`
    observation_step: int


@dataclass
class LoopOutcome:
    steps: list[StepRecord] = field(default_factory=list)
    stopped_by: str = "max_steps"  # "done" | "max_steps" | "emergency_stop"

    @property
    def plan(self) -> list[SkillCall]:
        return [s.decision.chosen for s in self.steps]


def run_loop(
    instruction: str,
    driver: RobotDriver,
    perception: Perception,
    planner: Planner,
    executor: Executor,
    max_steps: int,
    on_step: Callable[[StepRecord, Observation], None] | None = None,
) -> LoopOutcome:
    """Closed-loop SayCan: a fresh observation, scene and affordances before every decision."""
    outcome = LoopOutcome()
    history: list[SkillCall] = []
    for index in range(max_steps):
        obs = driver.get_observation()
        scene = perception.perceive(obs)
        decision = planner.decide(instruction, scene, history)
        result = None
        if decision.chosen != DONE:
            result = executor.execute(decision.chosen, driver, scene)
            history.append(decision.chosen)
        record = StepRecord(index, scene, decision, result, obs.step)
        outcome.steps.append(record)
        if on_step is not None:
            on_step(record, obs)
        if decision.chosen == DONE:
            outcome.stopped_by = "done"
            break
        if getattr(executor, "halted", False):  # the safety gate's emergency stop is latched
            outcome.stopped_by = "emergency_stop"
            break
    return outcome
