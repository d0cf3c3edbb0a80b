"""Non-overlapping table placements (pure numpy: the task layer samples scenes without physics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from saycan.sim.objects import BOWL_OUTER_RADIUS
from saycan.sim.objects_catalog import COLOUR_NAMES
from saycan.sim.scene_spec import WORKSPACE_X, WORKSPACE_Y, ObjectSpec

Workspace = tuple[tuple[float, float], tuple[float, float]]

#: Keep object centres this far inside the workspace edges (a block is 4 cm; a bowl ~15 cm).
DEFAULT_MARGIN = 0.06


def sample_placements(
    rng: np.random.Generator,
    n: int,
    min_dist: float = 0.12,
    workspace: Workspace = (WORKSPACE_X, WORKSPACE_Y),
    *,
    margin: float = DEFAULT_MARGIN,
    radii: Sequence[float] | None = None,
    clearance: float = 0.02,
    max_attempts: int = 200,
) -> list[tuple[float, float]]:
    """`n` xy positions, pairwise at least `min_dist` apart (and, with `radii`, at least
    `radii[i] + radii[j] + clearance` apart), `margin` inside the workspace.

    Uses only `rng`, so the same generator state gives the same layout. Raises ValueError when
    the objects cannot be packed after `max_attempts` restarts.
    """
    (x0, x1), (y0, y1) = workspace
    lo = np.array([x0 + margin, y0 + margin])
    hi = np.array([x1 - margin, y1 - margin])
    if np.any(hi < lo):
        raise ValueError(f"workspace {workspace} is smaller than twice the margin {margin}")
    r = np.zeros(n) if radii is None else np.asarray(radii, dtype=float)
    if len(r) != n:
        raise ValueError(f"{len(r)} radii for {n} objects")
    for _ in range(max_attempts):
        placed: list[np.ndarray] = []
        for i in range(n):
            for _try in range(100):
                p = lo + rng.random(2) * (hi - lo)
                if all(
                    np.linalg.norm(p - q) >= max(min_dist, r[i] + r[j] + clearance)
                    for j, q in enumerate(placed)
                ):
                    placed.append(p)
                    break
            else:
                break
        if len(placed) == n:
            return [(float(p[0]), float(p[1])) for p in placed]
    raise ValueError(f"cannot place {n} objects {min_dist} m apart in {workspace}")


def default_scene(rng: np.random.Generator) -> list[ObjectSpec]:
    """2-3 blocks and 1-2 bowls, all of distinct colours, at non-overlapping spots (the scene
    an env builds when neither explicit objects nor a task are given)."""
    n_blocks = int(rng.integers(2, 4))
    n_bowls = int(rng.integers(1, 3))
    colours = [COLOUR_NAMES[i] for i in rng.permutation(len(COLOUR_NAMES))]
    block_colours, bowl_colours = colours[:n_blocks], colours[n_blocks : n_blocks + n_bowls]
    radii = [0.03] * n_blocks + [BOWL_OUTER_RADIUS] * n_bowls
    xy = sample_placements(rng, n_blocks + n_bowls, min_dist=0.1, radii=radii)
    names = [f"{c} block" for c in block_colours] + [f"{c} bowl" for c in bowl_colours]
    return [
        ObjectSpec(name=n, category=n.split()[-1], colour=n.split()[0], xy=p)
        for n, p in zip(names, xy)
    ]
