"""Scene variants the suite's tasks do not pair with their goals, for the planner's training data.

Each variant is a spec transform (like `colour_split.seen_colours`): the sampler and the expert
are unchanged, so the goal still says what is right and the expert still solves it. A variant
that does not apply to a task (or would make its scene impossible) returns None and another is
drawn. Configured in `train_planner.yaml` (`situations.variants`, each built by `_target_`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import ValidationError

from saycan.sim.tasks.spec import ANY, EACH, TaskSpec
from saycan.world import COLOUR_GROUPS

#: The most objects a variant puts on the table: more do not fit apart (bowls are 15 cm across).
MAX_TABLE_OBJECTS = 7


@runtime_checkable
class Situation(Protocol):
    """A scene variant: the spec changed, or None where it does not apply."""

    name: str

    def apply(self, spec: TaskSpec, rng: np.random.Generator) -> TaskSpec | None: ...


def _rebuild(
    spec: TaskSpec, scene: dict | None = None, roles: dict | None = None
) -> TaskSpec | None:
    data = spec.model_dump(mode="python")
    if scene:
        data["scene"] = {**data["scene"], **scene}
    if roles is not None:
        data["roles"] = roles
    try:
        return TaskSpec.model_validate(data)
    except ValidationError:
        return None


def _roles(spec: TaskSpec) -> dict[str, dict]:
    return {n: r.model_dump(mode="python") for n, r in spec.roles.items()}


def _goal_preds(spec: TaskSpec):
    states = spec.milestones.states if spec.milestones is not None else ()
    return (*spec.goal, *states)


class HeldDistractor:
    """The gripper starts holding a block the goal does not name (or, in quantified goals, one
    of the set): the expert first puts it down, then does what was asked."""

    name = "held_distractor"

    def apply(self, spec: TaskSpec, rng: np.random.Generator) -> TaskSpec | None:
        blocks, bowls = spec.scene.blocks, spec.scene.bowls
        if any(r.held for r in spec.roles.values()) or blocks.min + bowls.min > 4:
            return None  # the open hand's footprint leaves no room for more on the table
        if any(
            p.pred in ("line", "nothing_moved")
            or (p.any is not None and p.any.category == "location")
            for p in _goal_preds(spec)
        ):
            # a line's blocks are the scene's blocks, a block to leave alone may be the one
            # in the hand (which must be put down), and one block per corner leaves no corner
            # to put it down in: one more block changes the task
            return None
        roles = {**_roles(spec), "held_extra": {"category": "block", "held": True}}
        # at most four objects on the table besides the hand's (fewer distractors if need be)
        most_bowls = min(bowls.max, max(bowls.min, 4 - blocks.min))
        most_blocks = min(blocks.max, max(blocks.min, 4 - most_bowls))
        scene = {
            "blocks": {"min": blocks.min + 1, "max": most_blocks + 1},
            "bowls": {"min": bowls.min, "max": most_bowls},
        }
        return _rebuild(spec, scene, roles)


class MinimalScene:
    """Only the roles' objects: one block and one bowl for `put the block in the bowl`. A
    category the goal quantifies over keeps the task's smallest count."""

    name = "minimal_scene"

    def apply(self, spec: TaskSpec, rng: np.random.Generator) -> TaskSpec | None:
        quantified = {
            sel.category for p in _goal_preds(spec) for sel in (p.each, p.any) if sel is not None
        }
        if any(p.pred == "tower" and not p.args for p in _goal_preds(spec)):
            quantified.add("block")
        if spec.scene.matched_pairs:
            quantified |= {"block", "bowl"}
        scene = {}
        for category in ("block", "bowl"):
            have = getattr(spec.scene, category + "s")
            present = sum(1 for r in spec.roles.values() if r.category == category and not r.absent)
            n = have.min if category in quantified else present
            scene[category + "s"] = {"min": n, "max": n}
        if all(
            getattr(spec.scene, k).min == v["min"] == getattr(spec.scene, k).max
            for k, v in scene.items()
        ):
            return None  # already minimal
        return _rebuild(spec, scene)


class BowlsInGroup:
    """Sorting by a colour group, with the target bowls' own colours drawn from a group too
    (the one sorted, or the other): the bowl's colour must not decide where blocks go."""

    name = "bowls_in_group"

    def apply(self, spec: TaskSpec, rng: np.random.Generator) -> TaskSpec | None:
        roles, changed = _roles(spec), False
        groups = list(COLOUR_GROUPS)
        for p in spec.goal:
            if p.pred != "in" or p.args[0] != EACH or p.each is None:
                continue
            target = p.args[1]
            if target == ANY or spec.roles[target].colour is not None:
                continue
            if not (isinstance(p.each.colour, str) and p.each.colour in COLOUR_GROUPS):
                continue
            roles[target]["colour"] = groups[int(rng.integers(len(groups)))]
            changed = True
        return _rebuild(spec, roles=roles) if changed else None


class MorePairs:
    """More blocks to match than the suite's two: each block into its same-coloured bowl, or
    each into a different bowl, with three or four of them."""

    name = "more_pairs"

    def __init__(self, pairs: Sequence[int] = (3, 4)):
        self.pairs = tuple(int(k) for k in pairs)

    def apply(self, spec: TaskSpec, rng: np.random.Generator) -> TaskSpec | None:
        k = self.pairs[int(rng.integers(len(self.pairs)))]
        preds = _goal_preds(spec)
        if any(p.pred == "all_in_matching_bowl" for p in preds):
            extra = 1 if 2 * k + 1 <= MAX_TABLE_OBJECTS else 0  # one unmatched block, room allowing
            scene = {
                "blocks": {"min": k, "max": k + extra},
                "bowls": {"min": k, "max": k},
                "matched_pairs": k,
            }
            return _rebuild(spec, scene)
        if any(p.distinct and p.any is not None and p.any.category == "bowl" for p in preds):
            return _rebuild(spec, {"blocks": {"min": k, "max": k}, "bowls": {"min": k, "max": k}})
        return None


def choose(
    spec: TaskSpec, variants: Sequence[Situation], rng: np.random.Generator
) -> tuple[TaskSpec, str | None]:
    """One applicable variant, drawn uniformly (the spec unchanged and None if none applies)."""
    for i in rng.permutation(len(variants)):
        out = variants[int(i)].apply(spec, rng)
        if out is not None:
            return out, variants[int(i)].name
    return spec, None
