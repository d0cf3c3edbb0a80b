"""What a task asks the simulator to build: objects with colours and table placements."""

from __future__ import annotations

from dataclasses import dataclass

from saycan.world import LOCATIONS, WORKSPACE_X, WORKSPACE_Y

__all__ = ["LOCATIONS", "WORKSPACE_X", "WORKSPACE_Y", "ObjectSpec"]  # the first three: world facts


@dataclass(frozen=True)
class ObjectSpec:
    """One object to build. `xy` is its table position; with `on`, it is stacked on that object
    (its xy is then taken from the support). With `held`, the env grasps it at reset: the
    episode starts with it between the closed fingers, lifted."""

    name: str  # unique, e.g. "red block"
    category: str  # "block" | "bowl"
    colour: str
    xy: tuple[float, float] = (0.5, 0.0)
    on: str | None = None
    held: bool = False
