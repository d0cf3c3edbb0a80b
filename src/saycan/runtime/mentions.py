"""What an instruction names against what the episode holds: objects the words name that are
not in the scene, and, for an instruction given by the user, goal objects the words do not name.

Why: `saycan run instruction="..."` keeps the task's goal, so an instruction about a block the
scene does not have (or about other objects than the goal's) fails without saying why. These
lists go into the episode record and `saycan run` prints them as a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from saycan.sim.objects_catalog import CATEGORIES, COLOUR_NAMES

_MENTION = re.compile(
    r"\b(" + "|".join(COLOUR_NAMES) + r")\s+(" + "|".join(CATEGORIES) + r")s?\b", re.IGNORECASE
)


def named_objects(instruction: str) -> list[str]:
    """Object names (`colour category`) the instruction spells out, in order, without repeats."""
    seen: list[str] = []
    for colour, category in _MENTION.findall(instruction):
        name = f"{colour.lower()} {category.lower()}"
        if name not in seen:
            seen.append(name)
    return seen


def absent_mentions(instruction: str, scene_objects: Iterable[str]) -> list[str]:
    """Objects the instruction names that the scene does not hold."""
    present = {name.lower() for name in scene_objects}
    return [name for name in named_objects(instruction) if name not in present]


def unmentioned(instruction: str, goal_objects: Iterable[str]) -> list[str]:
    """Goal objects the instruction does not name (checked for user-given instructions only:
    a task's own instructions may name objects by role, e.g. "the blocks")."""
    named = set(named_objects(instruction))
    return [name for name in dict.fromkeys(goal_objects) if name.lower() not in named]


def instruction_mismatch(instance, instruction: str, overridden: bool) -> dict[str, list[str]]:
    """The episode-record fields: `instruction_mentions_absent` always; with a user-given
    instruction also `goal_not_mentioned` (the task's goal objects the words leave out, since
    success is still judged on the task's goal)."""
    fields = {
        "instruction_mentions_absent": absent_mentions(
            instruction, (o.name for o in instance.objects)
        )
    }
    if overridden:
        goal = [
            str(instance.bindings[arg])
            for p in instance.spec.goal
            for arg in p.args
            if arg in instance.bindings
        ]
        fields["goal_not_mentioned"] = unmentioned(instruction, goal)
    return fields
