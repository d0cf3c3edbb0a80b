"""Names of the colours and object categories the simulator can build (no pybullet import), so
task specs can be validated without starting physics. The facts live in `saycan.world`."""

from __future__ import annotations

from saycan.world import CATEGORIES, COLOUR_NAMES, COLOURS

__all__ = ["CATEGORIES", "COLOUR_NAMES", "COLOURS"]
