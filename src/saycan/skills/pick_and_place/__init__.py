"""The `pick_and_place(object, target)` skill: one unit (see `skill.py`; docs/skills.md)."""

from saycan.skills.pick_and_place.skill import PickAndPlace
from saycan.skills.pick_and_place.surface import place_surface

__all__ = ["PickAndPlace", "place_surface"]
