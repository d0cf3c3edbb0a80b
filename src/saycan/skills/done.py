"""The `done()` skill: declare the instruction finished. The loop ends the episode on `DONE`."""

from __future__ import annotations

from collections.abc import Iterable

from saycan.drivers.base import MotionInterface
from saycan.perception.scene import SceneDescription
from saycan.skills.types import Placement, SkillCall, SkillResult

#: The one call of this skill: SayCan's stop option, which every planner may choose.
DONE = SkillCall("done")


class Done:
    """Declare the instruction finished; ends the episode. Always affordable, moves nothing."""

    name = DONE.skill

    def candidates(self, scene: SceneDescription) -> Iterable[SkillCall]:
        yield DONE

    def execute(
        self, call: SkillCall, motion: MotionInterface, scene: SceneDescription
    ) -> SkillResult:
        return SkillResult(call, True)

    def why_not(
        self, call: SkillCall, scene: SceneDescription, motion: MotionInterface | None
    ) -> str | None:
        return None

    def effect(self, call: SkillCall, scene: SceneDescription) -> tuple[Placement, ...]:
        return ()

    def succeeded(
        self, call: SkillCall, before: SceneDescription, after: SceneDescription
    ) -> bool | None:
        return None  # nothing to see: the episode's verdict judges it

    def carried(self, call: SkillCall) -> str | None:
        return None
