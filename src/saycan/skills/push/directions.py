"""The directions `push` knows, in the world frame (unit xy)."""

from __future__ import annotations

#: left = +y, forward = +x (away from the robot).
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (0.0, 1.0),
    "right": (0.0, -1.0),
    "forward": (1.0, 0.0),
    "backward": (-1.0, 0.0),
}
