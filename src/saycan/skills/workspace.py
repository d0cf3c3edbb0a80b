"""The table workspace as skills see it: a world fact (`saycan.world`), never the simulator's."""

from __future__ import annotations

import math
from collections.abc import Sequence

from saycan.world import WORKSPACE_X, WORKSPACE_Y

#: Margin (m) beyond the workspace that an object may lie in and still be handled.
WORKSPACE_MARGIN = 0.05


def in_workspace(x: float, y: float) -> bool:
    """Inside the workspace, or within `WORKSPACE_MARGIN` of it."""
    return (
        WORKSPACE_X[0] - WORKSPACE_MARGIN <= x <= WORKSPACE_X[1] + WORKSPACE_MARGIN
        and WORKSPACE_Y[0] - WORKSPACE_MARGIN <= y <= WORKSPACE_Y[1] + WORKSPACE_MARGIN
    )


def outside(x: float, y: float) -> float:
    """Signed distance (m) from the workspace rectangle: > 0 outside, < 0 inside (depth)."""
    dx = max(WORKSPACE_X[0] - x, x - WORKSPACE_X[1])
    dy = max(WORKSPACE_Y[0] - y, y - WORKSPACE_Y[1])
    if dx <= 0 and dy <= 0:
        return max(dx, dy)
    return math.hypot(max(dx, 0.0), max(dy, 0.0))


def segment_distance(p: Sequence[float], a: Sequence[float], b: Sequence[float]) -> float:
    """Distance from point `p` to the segment `a`-`b` (xy)."""
    px, py, ax, ay, bx, by = (float(v) for v in (*p[:2], *a[:2], *b[:2]))
    vx, vy = bx - ax, by - ay
    n2 = vx * vx + vy * vy
    t = 0.0 if n2 == 0 else max(0.0, min(1.0, ((px - ax) * vx + (py - ay) * vy) / n2))
    return ((px - ax - t * vx) ** 2 + (py - ay - t * vy) ** 2) ** 0.5
