"""What a task asks the simulator to build: objects with colours and table placements."""

from __future__ import annotations

from dataclasses import dataclass

#: Workspace on the table (world frame, metres): where objects are placed and may be moved to.
WORKSPACE_X = (0.30, 0.70)
WORKSPACE_Y = (-0.25, 0.25)

#: Named locations the skills can place at (table height). "top" is far from the robot (+x),
#: "left" is the robot's left (+y).
LOCATIONS: dict[str, tuple[float, float, float]] = {
    "top left corner": (0.66, 0.21, 0.0),
    "top right corner": (0.66, -0.21, 0.0),
    "bottom left corner": (0.34, 0.21, 0.0),
    "bottom right corner": (0.34, -0.21, 0.0),
    "middle": (0.50, 0.0, 0.0),
}


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
