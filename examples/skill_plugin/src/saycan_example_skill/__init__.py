"""saycan-example-skill: `slide(object, place)`, a skill that lives outside saycan-stack."""

from saycan_example_skill.slide import Slide

__all__ = ["Slide"]
