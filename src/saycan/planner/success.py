"""Success detection from perception (Inner Monologue's "Success: yes/no").

The detector judges a step from the scene *perceived* after it, never from simulator truth:
with a learned perception backend the verdict can be wrong, as it would be on a real robot.
It is a config group (`success_detector`), so it can be swapped or switched off (`none`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from saycan.perception.scene import SceneDescription
from saycan.planner.prompts import HistoryStep
from saycan.skills.base import SkillLibrary, default_library
from saycan.skills.types import SkillCall, SkillResult


class SuccessDetector(Protocol):
    name: str

    def judge(
        self,
        call: SkillCall,
        before: SceneDescription,
        after: SceneDescription,
        result: SkillResult | None,
    ) -> bool | None: ...


class NoSuccessDetector:
    """Ablation: no verdict (the prompt then shows no `Success:` line)."""

    name = "none"

    def __init__(
        self, skills: SkillLibrary | None = None
    ):  # the runtime passes every detector the library
        pass

    def judge(self, call, before, after, result) -> None:
        return None


class SceneSuccessDetector:
    """Asks the call's skill (`Skill.succeeded`): `pick_and_place(X, Y)` by X's relation to Y in
    the perceived scene, `push(X, dir)` by how far X moved that way, and so on. `done` and
    unknown skills get no verdict (None). `skills`: the configured library (the runtime passes
    it; default: every packaged skill)."""

    name = "scene"

    def __init__(self, skills: SkillLibrary | None = None):
        self.skills = skills if skills is not None else default_library()

    def judge(
        self,
        call: SkillCall,
        before: SceneDescription,
        after: SceneDescription,
        result: SkillResult | None,
    ) -> bool | None:
        return self.skills.succeeded(call, before, after)


@runtime_checkable
class HasExpertPlan(Protocol):
    """A task instance that knows its expert plan (what the oracle planner, the simulated human
    and teacher forcing follow). Episodes without a task have none."""

    def expert_plan(self, skills: SkillLibrary | None = None) -> list[SkillCall]:
        """The plan, each move made by the first skill of `skills` that can (None: the
        default pick_and_place)."""
        ...


def expert_progress(plan: Sequence[SkillCall], history: Sequence[SkillCall | HistoryStep]) -> int:
    """How many calls of an expert plan the history has achieved: a step counts when it is the
    plan's next call and was not judged a failure (a failed step is to be retried). Lets the
    oracle and the simulated human follow the plan through failures and retries."""
    k = 0
    for step in history:
        call, ok = (step.call, step.success) if isinstance(step, HistoryStep) else (step, None)
        if k < len(plan) and call == plan[k] and ok is not False:
            k += 1
    return k
