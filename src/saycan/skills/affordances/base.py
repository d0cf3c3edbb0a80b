"""`AffordanceModel`: V(scene, call) in [0, 1], the probability that a call succeeds now."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from saycan.perception.scene import SceneDescription
from saycan.skills.types import SkillCall


@runtime_checkable
class AffordanceModel(Protocol):
    name: str

    def value(self, call: SkillCall, scene: SceneDescription) -> float: ...


class ConstantAffordance:
    """Every call is affordable (`affordance=none`): the ablation that leaves the LLM alone."""

    name = "none"

    def __init__(
        self, value: float = 1.0, motion: object | None = None, skills: object | None = None
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError("an affordance value is a probability in [0, 1]")
        self._value = float(value)

    def value(self, call: SkillCall, scene: SceneDescription) -> float:
        return self._value
