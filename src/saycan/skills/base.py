"""The `Skill` contract: what a skill can be asked to do from a scene, and how it runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from saycan.drivers.base import MotionInterface
from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.skills.types import FailureReason, SkillCall, SkillResult


@runtime_checkable
class Skill(Protocol):
    name: str

    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        """Every call of this skill that makes sense to *consider* in this scene (the LLM and
        the affordance decide which one to run)."""
        ...

    def execute(
        self, call: SkillCall, motion: MotionInterface, scene: SceneDescription
    ) -> SkillResult: ...


class SkillLibrary:
    """The skills a planner may choose from, looked up by name."""

    def __init__(self, skills: Sequence[Skill]):
        self._skills = {s.name: s for s in skills}
        if len(self._skills) != len(skills):
            raise ConfigError("two skills share a name")

    @property
    def names(self) -> list[str]:
        return list(self._skills)

    def get(self, name: str) -> Skill | None:
        """The skill called `name`, if the library has it (executors read its parameters)."""
        return self._skills.get(name)

    def candidates(self, scene: SceneDescription) -> list[SkillCall]:
        return [call for skill in self._skills.values() for call in skill.candidates(scene)]

    def execute(
        self, call: SkillCall, motion: MotionInterface, scene: SceneDescription
    ) -> SkillResult:
        skill = self._skills.get(call.skill)
        if skill is None:
            return SkillResult(call, False, FailureReason.INVALID_TARGET, f"unknown skill {call.skill!r}")
        return skill.execute(call, motion, scene)
