"""How the task expert uses `pick_and_place`: its way to put a block on a block, into a bowl or
at a named place (it cannot lift a bowl). The expert (`saycan.sim.tasks`) plans `ExpertMove`s on
a symbolic copy of the scene; a skill library turns each into a call (`Skill.expert_call`), and
without one the expert asks this module, so no other code spells the skill's name."""

from __future__ import annotations

from saycan.skills.types import ExpertMove, SkillCall

#: The skill's name, stated once for the unit.
NAME = "pick_and_place"


def move(obj: str, target: str) -> SkillCall:
    """The call that puts `obj` on / in / at `target`."""
    return SkillCall(NAME, (obj, target))


def expert_call(m: ExpertMove) -> SkillCall | None:
    """The call that makes the move, if the object is a block (the fingers lift blocks only)."""
    return move(m.obj, m.target) if m.obj_category == "block" else None
