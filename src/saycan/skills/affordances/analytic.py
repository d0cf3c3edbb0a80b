"""Geometric affordances: can this call succeed from the scene as perceived right now?

Recomputed before every decision from the current `SceneDescription` (never once per episode),
so a block that got covered, dropped or moved changes what the planner may choose. The rules
themselves belong to each skill (`Skill.why_not`); this model asks the call's skill.
"""

from __future__ import annotations

from saycan.drivers.base import MotionInterface
from saycan.perception.scene import SceneDescription
from saycan.skills.base import SkillLibrary, default_library
from saycan.skills.types import SkillCall


class AnalyticAffordance:
    """Each skill's rules, each a reason a call cannot succeed; the value is `feasible_value`
    or 0. A call of a skill the library does not have has no rule, and gets 0.

    `motion` (None: skip) answers reachability by IK; `skills`: the library whose skills judge
    (the runtime passes the configured one; default: every packaged skill).
    """

    name = "analytic"

    def __init__(
        self,
        motion: MotionInterface | None = None,
        feasible_value: float = 1.0,
        skills: SkillLibrary | None = None,
    ):
        self.motion = motion
        self.feasible_value = float(feasible_value)
        self.skills = skills if skills is not None else default_library()

    def value(self, call: SkillCall, scene: SceneDescription) -> float:
        return self.feasible_value if self.why_not(call, scene) is None else 0.0

    def why_not(self, call: SkillCall, scene: SceneDescription) -> str | None:
        """The first reason the call cannot succeed, or None if it can."""
        return self.skills.why_not(call, scene, self.motion)
