"""Success detection from perception (Inner Monologue's "Success: yes/no").

The detector judges a step from the scene *perceived* after it, never from simulator truth:
with a learned perception backend the verdict can be wrong, as it would be on a real robot.
It is a config group (`success_detector`), so it can be swapped or switched off (`none`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from saycan.perception.scene import SceneDescription
from saycan.planner.prompts import HistoryStep
from saycan.sim import geometry
from saycan.skills.library import DEFAULT_PUSH_DISTANCE, PUSH_DIRECTIONS
from saycan.skills.types import DONE, SkillCall, SkillResult

#: How close (m, in the table plane) a block must end to a named location to count as there.
LOCATION_TOLERANCE = 0.05

#: A push counts as done if the block moved at least this share of the intended distance.
PUSH_FRACTION = 0.5


class SuccessDetector(Protocol):
    name: str

    def judge(
        self, call: SkillCall, before: SceneDescription, after: SceneDescription, result: SkillResult | None
    ) -> bool | None: ...


class NoSuccessDetector:
    """Ablation: no verdict (the prompt then shows no `Success:` line)."""

    name = "none"

    def judge(self, call, before, after, result) -> None:
        return None


class SceneSuccessDetector:
    """Judges `pick_and_place(X, Y)` by X's relation to Y in the perceived scene (in the bowl,
    on the block, or within `LOCATION_TOLERANCE` of the location) and `push(X, dir)` by how far X
    moved that way. Unknown skills get no verdict (None)."""

    name = "scene"

    def __init__(self, location_tolerance: float = LOCATION_TOLERANCE, push_distance: float = DEFAULT_PUSH_DISTANCE):
        self.location_tolerance = float(location_tolerance)
        self.push_distance = float(push_distance)

    def judge(
        self, call: SkillCall, before: SceneDescription, after: SceneDescription, result: SkillResult | None
    ) -> bool | None:
        if call == DONE:
            return None
        if call.skill == "pick_and_place" and len(call.args) == 2:
            return self._placed(*call.args, before, after)
        if call.skill == "push" and len(call.args) == 2:
            return self._pushed(*call.args, before, after)
        return None

    def _placed(self, obj: str, target: str, before: SceneDescription, after: SceneDescription) -> bool:
        moved = after.get(obj)
        if moved is None or after.holding == obj:
            return False
        goal = after.get(target)
        if goal is None:
            # Where the place was when the skill was chosen: a side of the moved block itself
            # ("a bit to the right of it") has moved with it since.
            place = before.locations.get(target, after.locations.get(target))
            if place is None:
                return False
            return geometry.xy_distance(moved.position, place) < self.location_tolerance
        if goal.category == "bowl":
            return _rests_in(obj, target, after)
        return any(r.subject == obj and r.predicate == "on" and r.object == target for r in after.relations)

    def _pushed(self, obj: str, direction: str, before: SceneDescription, after: SceneDescription) -> bool:
        a, b = before.get(obj), after.get(obj)
        if a is None or b is None or direction not in PUSH_DIRECTIONS:
            return False
        shift = np.asarray(b.position[:2]) - np.asarray(a.position[:2])
        return float(shift @ np.asarray(PUSH_DIRECTIONS[direction], float)) >= PUSH_FRACTION * self.push_distance


def _rests_in(obj: str, bowl: str, scene: SceneDescription, depth: int = 0) -> bool:
    """In the bowl, or on a block that (transitively) is: a pile in a bowl is in it."""
    for r in scene.relations:
        if r.subject != obj:
            continue
        if r.predicate == "in" and r.object == bowl:
            return True
        if r.predicate == "on" and depth < 6 and _rests_in(r.object, bowl, scene, depth + 1):
            return True
    return False


@runtime_checkable
class HasExpertPlan(Protocol):
    """A task instance that knows its expert plan (what the oracle planner, the simulated human
    and teacher forcing follow). Episodes without a task have none."""

    def expert_plan(self) -> list[SkillCall]: ...


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
