"""Names of the colours and object categories the simulator can build (no pybullet import), so
task specs can be validated without starting physics."""

from __future__ import annotations

#: RGBA for each named colour; the simulator paints objects with these.
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.12, 0.10, 1.0),
    "orange": (0.98, 0.50, 0.05, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
    "green": (0.15, 0.65, 0.20, 1.0),
    "blue": (0.12, 0.30, 0.85, 1.0),
    "purple": (0.50, 0.20, 0.70, 1.0),
    "pink": (0.98, 0.55, 0.75, 1.0),
    "cyan": (0.10, 0.80, 0.85, 1.0),
    "brown": (0.50, 0.30, 0.12, 1.0),
    "gray": (0.50, 0.50, 0.50, 1.0),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
CATEGORIES: tuple[str, ...] = ("block", "bowl")
