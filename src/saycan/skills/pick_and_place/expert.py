"""How the task expert uses `pick_and_place`: its one way to move an object onto a block, into a
bowl or to a named place. The expert (`saycan.sim.tasks`) plans moves on a symbolic copy of the
scene and asks this module for the call that makes each one, so it never spells the skill."""

from __future__ import annotations

from saycan.skills.types import SkillCall

#: The skill's name, stated once for the unit.
NAME = "pick_and_place"


def move(obj: str, target: str) -> SkillCall:
    """The call that puts `obj` on / in / at `target`."""
    return SkillCall(NAME, (obj, target))
