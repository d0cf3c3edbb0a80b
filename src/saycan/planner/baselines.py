"""Reference planners beside SayCan: `random` (uniform over affordable calls) and `oracle`
(the task's expert plan). Both produce the same `Decision` records as SayCan."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import CandidateScore, Decision
from saycan.planner.success import HasExpertPlan, expert_progress
from saycan.skills.affordances.base import AffordanceModel
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall


class RandomPlanner:
    """Uniform over calls with non-zero affordance (`done` included), from the episode's rng."""

    name = "random"

    def __init__(self, affordance: AffordanceModel, skills: SkillLibrary):
        self.affordance = affordance
        self.skills = skills
        self._rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        self._rng = rng

    def decide(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall]
    ) -> Decision:
        start = time.perf_counter()
        calls = self.skills.candidates(scene)
        values = [self.affordance.value(c, scene) for c in calls]
        feasible = [i for i, v in enumerate(values) if v > 0]
        chosen = calls[int(self._rng.choice(feasible))] if feasible else DONE
        cands = tuple(
            CandidateScore(c, float("nan"), v, 1.0 if i in feasible else float("-inf"))
            for i, (c, v) in enumerate(zip(calls, values))
        )
        return Decision("", cands, chosen, self.name, time.perf_counter() - start)


class OraclePlanner:
    """Follows the task's expert plan (computed from the initial state at `reset`); with
    closed-loop feedback it retries a step the success detector judged failed."""

    name = "oracle"

    def __init__(self, affordance: AffordanceModel, skills: SkillLibrary):
        self.affordance = affordance
        self.skills = skills
        self._plan: list[SkillCall] = [DONE]

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        if not isinstance(task, HasExpertPlan):
            raise ConfigError("planner=oracle needs a task with an expert plan")
        self._plan = list(task.expert_plan(self.skills))

    def decide(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall]
    ) -> Decision:
        start = time.perf_counter()
        step = expert_progress(self._plan, history)  # a step judged failed is retried
        chosen = self._plan[step] if step < len(self._plan) else DONE
        calls = self.skills.candidates(scene)
        cands = tuple(
            CandidateScore(
                c,
                float("nan"),
                self.affordance.value(c, scene),
                0.0 if c == chosen else float("-inf"),
            )
            for c in calls
        )
        return Decision("", cands, chosen, self.name, time.perf_counter() - start)
