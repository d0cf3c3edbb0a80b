"""The `Skill` contract: everything the stack may ask of one skill, and the library that asks.

A skill is one unit (`saycan.skills.pick_and_place`, `...push`, `...done`, or a plugin's
package): its arguments and candidates, its motor program, why a call cannot succeed (the
analytic affordance), its learned-affordance features, its intended effect (what a
direct-effect executor applies), its per-step success check, and what a disturbance may act on.
Nothing outside the unit looks at a skill's name: the library finds the skill of a call and
asks it. The library is built from the `skills` config group (one `_target_` per skill).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, Protocol, runtime_checkable

import numpy as np

from saycan.drivers.base import MotionInterface
from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.skills.types import ExpertMove, FailureReason, Placement, SkillCall, SkillResult


@runtime_checkable
class Skill(Protocol):
    """What every skill provides (checked once, when the library is built)."""

    name: str

    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        """Every call of this skill that makes sense to *consider* in this scene (the LLM and
        the affordance decide which one to run)."""
        ...

    def execute(
        self, call: SkillCall, motion: MotionInterface, scene: SceneDescription
    ) -> SkillResult:
        """The motor program: run `call` on the arm."""
        ...

    def why_not(
        self, call: SkillCall, scene: SceneDescription, motion: MotionInterface | None
    ) -> str | None:
        """The first reason `call` cannot succeed from `scene` (the analytic affordance), or
        None if it can; `motion` (None: skip) answers reachability by IK."""
        ...

    def effect(self, call: SkillCall, scene: SceneDescription) -> tuple[Placement, ...]:
        """Where the call, done perfectly, leaves the objects it moves (for `executor=teleport`);
        only asked after `why_not` said it can succeed."""
        ...

    def succeeded(
        self, call: SkillCall, before: SceneDescription, after: SceneDescription
    ) -> bool | None:
        """The per-step verdict from the scenes perceived before and after (None: no verdict)."""
        ...

    def carried(self, call: SkillCall) -> str | None:
        """The object a successful call lifted and carried to a new place, if any: what a
        simulated disturbance may knock off or drop."""
        ...


@runtime_checkable
class LearnedFeatures(Protocol):
    """A skill with a learned affordance: one feature vector per (call, scene). A checkpoint
    stores `feature_names` and refuses a skill whose layout differs."""

    name: str
    feature_names: tuple[str, ...]

    def features(self, call: SkillCall, scene: SceneDescription) -> np.ndarray: ...


@runtime_checkable
class ExpertUse(Protocol):
    """A skill the task expert (the oracle's plan, the simulated human) may use to make a move."""

    name: str

    def expert_call(self, move: ExpertMove) -> SkillCall | None:
        """This skill's call that makes `move`, or None if it cannot (e.g. it cannot lift a
        bowl); the library asks its skills in order and takes the first call."""
        ...


@runtime_checkable
class Trainable(LearnedFeatures, Protocol):
    """A learned skill's side of `saycan train affordance`: which calls to attempt in a random
    scene and how to label an attempt from simulator ground truth (states by object name, each
    with `category`, `position`, `size`). Ground truth is the trainer's to read; the skill only
    says what "it did what it says" means."""

    def malformed_calls(self, scene: SceneDescription) -> list[SkillCall]:
        """Calls that cannot succeed (a missing object, the object as its own target, ...), so
        the model sees them fail."""
        ...

    def sample_call(self, rng: np.random.Generator, obj: str, scene: SceneDescription) -> SkillCall:
        """A call on block `obj`, its other arguments drawn from `rng`."""
        ...

    def attempt_outcome(
        self, call: SkillCall, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> tuple[bool, set[str]]:
        """Whether the intended effect holds after the attempt, and the objects it was meant to
        move (every other object must stay put)."""
        ...


class SkillLibrary:
    """The skills a planner may choose from; every question about a call goes to its skill."""

    def __init__(self, skills: Sequence[Skill]):
        for s in skills:
            if not isinstance(s, Skill):
                raise ConfigError(
                    f"{type(s).__name__} does not implement the Skill protocol "
                    "(saycan.skills.base.Skill; docs/skills.md)"
                )
        self._skills = {s.name: s for s in skills}
        if len(self._skills) != len(skills):
            raise ConfigError("two skills share a name")

    @property
    def names(self) -> list[str]:
        return list(self._skills)

    def __iter__(self):
        return iter(self._skills.values())

    def get(self, name: str) -> Skill | None:
        """The skill called `name`, if the library has it."""
        return self._skills.get(name)

    def skill_of(self, call: SkillCall) -> Skill | None:
        return self._skills.get(call.skill)

    def learned(self) -> dict[str, LearnedFeatures]:
        """The skills with a learned affordance, by name (a checkpoint holds one model each)."""
        return {n: s for n, s in self._skills.items() if isinstance(s, LearnedFeatures)}

    def candidates(self, scene: SceneDescription) -> list[SkillCall]:
        return [call for skill in self._skills.values() for call in skill.candidates(scene)]

    def execute(
        self, call: SkillCall, motion: MotionInterface, scene: SceneDescription
    ) -> SkillResult:
        skill = self.skill_of(call)
        if skill is None:
            return SkillResult(
                call, False, FailureReason.INVALID_TARGET, f"unknown skill {call.skill!r}"
            )
        return skill.execute(call, motion, scene)

    def why_not(
        self, call: SkillCall, scene: SceneDescription, motion: MotionInterface | None = None
    ) -> str | None:
        skill = self.skill_of(call)
        if skill is None:
            return f"no rule for {call.to_text()}"
        return skill.why_not(call, scene, motion)

    def effect(self, call: SkillCall, scene: SceneDescription) -> tuple[Placement, ...]:
        skill = self.skill_of(call)
        return () if skill is None else tuple(skill.effect(call, scene))

    def succeeded(
        self, call: SkillCall, before: SceneDescription, after: SceneDescription
    ) -> bool | None:
        skill = self.skill_of(call)
        return None if skill is None else skill.succeeded(call, before, after)

    def carried(self, call: SkillCall) -> str | None:
        skill = self.skill_of(call)
        return None if skill is None else skill.carried(call)

    def expert_call(self, move: ExpertMove) -> SkillCall:
        """The call of the first skill (in library order) that can make `move`."""
        for skill in self._skills.values():
            if isinstance(skill, ExpertUse):
                call = skill.expert_call(move)
                if call is not None:
                    return call
        raise ConfigError(
            f"no skill in the library ({', '.join(self._skills)}) can put the "
            f"{move.obj} on/in/at the {move.target}: the task needs another skill"
        )


#: The packaged library a component built outside a config (a test, a notebook) asks when it
#: is given none: every packaged skill.
DEFAULT_LIBRARY = "configs/skills/pick_place_push.yaml"


def default_library() -> SkillLibrary:
    """The packaged `skills=pick_place_push` library, built from its config like any other."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate(OmegaConf.load(str(resources.files("saycan").joinpath(DEFAULT_LIBRARY))))
