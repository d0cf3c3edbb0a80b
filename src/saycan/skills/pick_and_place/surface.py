"""Where a placed object comes to rest, from the perceived scene."""

from __future__ import annotations

from saycan.perception.scene import SceneDescription
from saycan.world import BOWL_FLOOR, BOWL_HEIGHT


def place_surface(scene: SceneDescription, target: str) -> tuple[float, float, float] | None:
    """Where an object placed on `target` will rest: (x, y, z of the supporting surface)."""
    obj = scene.get(target)
    if obj is None:
        if target in scene.locations:
            x, y, _ = scene.locations[target]
            return (x, y, 0.0)
        return None
    x, y, z = obj.position
    if obj.category == "bowl":
        return (x, y, z - BOWL_HEIGHT / 2 + BOWL_FLOOR)
    return (x, y, z + obj.size[2] / 2)
