"""What planners that follow a plan of their own (a goal's expert plan, a program) share: the
affordance of every candidate, the trace's candidate list, and noticing a failed step."""

from __future__ import annotations

from collections.abc import Sequence

from saycan.perception.scene import SceneDescription
from saycan.planner.decision import CandidateScore
from saycan.planner.prompts import HistoryStep
from saycan.skills.affordances.base import AffordanceModel
from saycan.skills.base import SkillLibrary
from saycan.skills.types import SkillCall


def affordances(
    skills: SkillLibrary, affordance: AffordanceModel, scene: SceneDescription
) -> dict[SkillCall, float]:
    """Every admissible call in this scene with its affordance (recomputed every decision)."""
    return {c: affordance.value(c, scene) for c in skills.candidates(scene)}


def followed(values: dict[SkillCall, float], chosen: SkillCall) -> tuple[CandidateScore, ...]:
    """The trace's candidates when no model scored them: the chosen call 0, the others -inf."""
    return tuple(
        CandidateScore(c, float("nan"), float(v), 0.0 if c == chosen else float("-inf"))
        for c, v in values.items()
    )


class FailureWatch:
    """Which history steps are new since the planner last looked, and whether the success
    detector judged one of them failed (the cue to write the program or goal again)."""

    def __init__(self) -> None:
        self.seen = 0

    def reset(self) -> None:
        self.seen = 0

    def failed_since(self, history: Sequence[SkillCall | HistoryStep]) -> bool:
        new = list(history)[self.seen :]
        self.seen = len(history)
        return any(isinstance(h, HistoryStep) and h.success is False for h in new)
