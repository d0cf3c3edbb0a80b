"""The `push(object, direction)` skill: one unit (see `skill.py`; docs/skills.md)."""

from saycan.skills.push.directions import DIRECTIONS
from saycan.skills.push.skill import Push

__all__ = ["DIRECTIONS", "Push"]
