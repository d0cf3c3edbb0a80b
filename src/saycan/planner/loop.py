"""The closed loop: perceive, decide, execute, perceive again, until `done` or the step budget.

Only protocols are used here (driver, perception, planner, executor), so the same loop runs a
simulated or a physical robot; nothing in `planner/` imports pybullet.

Closed-loop feedback (Inner Monologue): after each skill the scene is perceived again and a
success detector judges the step from that scene; the history the planner sees is a list of
`HistoryStep`s carrying the verdict and the scene, which the prompt shows or hides
(`prompt.feedback`). `feedback=False` hands the planner bare calls (the ablation for planners
without a prompt, such as the oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from saycan.drivers.base import RobotDriver
from saycan.drivers.types import Observation
from saycan.errors import DisconnectedError
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import Decision
from saycan.planner.prompts import HistoryStep
from saycan.planner.stepping import Steps, decision_steps, driven
from saycan.planner.success import SuccessDetector
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall, SkillResult

#: Called after a skill ran (before the scene is perceived again): returns what disturbed the
#: world meanwhile (one JSON-able dict per event), e.g. `PyBulletDriver.disturb`.
AfterSkill = Callable[[SkillCall, SkillResult], list[dict]]


@runtime_checkable
class Perception(Protocol):
    """Turns an observation into the scene the prompt shows. `needs_images = False` (oracle
    perception) lets a simulator skip rendering the camera."""

    name: str
    needs_images: bool

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """A new episode: forget remembered objects; noise draws come from `rng`."""
        ...

    def perceive(self, obs: Observation) -> SceneDescription: ...


@runtime_checkable
class Planner(Protocol):
    name: str

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        """A new episode: tie-breaking draws from `rng`; `task` is the sampled task instance,
        or None in an episode without a task (a planner that needs one raises ConfigError)."""
        ...

    def decide(
        self, instruction: str, scene: SceneDescription, history: list[SkillCall | HistoryStep]
    ) -> Decision: ...


@runtime_checkable
class Haltable(Protocol):
    """An executor behind an emergency stop (the safety gate's): once `halted`, the loop stops
    planning instead of asking for calls that would all be refused."""

    @property
    def halted(self) -> bool: ...


class Executor(Protocol):
    """Turns a chosen call into action: motor primitives (`physics`) or a direct effect."""

    name: str

    def execute(
        self, call: SkillCall, driver: RobotDriver, scene: SceneDescription
    ) -> SkillResult: ...


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
    detected_success: bool | None = None  # the success detector's verdict on the step
    disturbances: list[dict] = field(default_factory=list)  # what disturbed the world after it
    feedback: list[str] = field(default_factory=list)  # the feedback lines the next prompt shows


@dataclass
class LoopOutcome:
    steps: list[StepRecord] = field(default_factory=list)
    stopped_by: str = "max_steps"  # "done" | "max_steps" | "emergency_stop" | "disconnected"
    history: list[HistoryStep] = field(default_factory=list)
    error: str | None = None  # why the link to the robot was lost (stopped_by disconnected)

    @property
    def plan(self) -> list[SkillCall]:
        return [s.decision.chosen for s in self.steps]


def loop_steps(
    instruction: str,
    driver: RobotDriver,
    perception: Perception,
    planner: Planner,
    executor: Executor,
    max_steps: int,
    on_step: Callable[[StepRecord, Observation], None] | None = None,
    *,
    success_detector: SuccessDetector | None = None,
    after_skill: AfterSkill | None = None,
    feedback: bool | str = True,
) -> Steps[LoopOutcome]:
    """Closed-loop SayCan: a fresh observation, scene and affordances before every decision;
    after each skill, disturbances (if any), a fresh scene and the detector's verdict. Yields
    the planner's scoring requests (`planner.stepping`); `run_loop` scores them itself."""
    outcome = LoopOutcome()
    try:
        yield from _loop(
            instruction,
            driver,
            perception,
            planner,
            executor,
            max_steps,
            on_step,
            success_detector,
            after_skill,
            feedback,
            outcome,
        )
    except DisconnectedError as exc:  # the robot is gone: keep every finished step
        outcome.stopped_by, outcome.error = "disconnected", str(exc)
    return outcome


#: The loop on its own, each scoring request answered as it comes.
run_loop = driven(loop_steps)


def _loop(
    instruction,
    driver,
    perception,
    planner,
    executor,
    max_steps,
    on_step,
    success_detector,
    after_skill,
    feedback,
    outcome: LoopOutcome,
) -> Steps[None]:
    mode = {True: "success_scene", False: "none"}.get(feedback, feedback)
    obs = driver.get_observation()
    scene = perception.perceive(obs)
    for index in range(max_steps):
        seen = outcome.history if mode != "none" else [HistoryStep(h.call) for h in outcome.history]
        decision = yield from decision_steps(planner, instruction, scene, list(seen))
        record = StepRecord(index, scene, decision, None, obs.step)
        next_obs, next_scene = obs, scene
        if decision.chosen != DONE:
            record.result = executor.execute(decision.chosen, driver, scene)
            if after_skill is not None:
                record.disturbances = list(after_skill(decision.chosen, record.result))
            next_obs = driver.get_observation()
            next_scene = perception.perceive(next_obs)
            if success_detector is not None:
                record.detected_success = success_detector.judge(
                    decision.chosen, scene, next_scene, record.result
                )
            step = HistoryStep(decision.chosen, record.detected_success, next_scene)
            outcome.history.append(step)
            record.feedback = feedback_lines(step, mode)
        outcome.steps.append(record)
        if on_step is not None:
            on_step(record, obs)
        if decision.chosen == DONE:
            outcome.stopped_by = "done"
            break
        if isinstance(executor, Haltable) and executor.halted:  # the e-stop is latched
            outcome.stopped_by = "emergency_stop"
            break
        obs, scene = next_obs, next_scene


def feedback_lines(step: HistoryStep, mode: str = "success_scene") -> list[str]:
    """The feedback a prompt in `mode` shows after the step (for traces and the viewer)."""
    if mode == "none":
        return []
    lines = [] if step.success is None else [f"Success: {'yes' if step.success else 'no'}"]
    if mode == "success_scene" and step.scene is not None:
        lines.append(f"Scene: {step.scene.to_text('saycan')}")
    return lines
