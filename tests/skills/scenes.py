"""Seeded random pick-and-place scenes shared by the skill tests (pure data, no physics)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saycan.sim.layout import default_scene
from saycan.sim.scene_spec import LOCATIONS, ObjectSpec


@dataclass(frozen=True)
class Case:
    seed: int
    kind: str  # "bowl" | "block" | "location"
    objects: tuple[ObjectSpec, ...]
    obj: str
    target: str


def make_case(seed: int) -> Case:
    """Scene `seed` with one task: block -> bowl, block -> block or block -> free table corner."""
    rng = np.random.default_rng(seed)
    kind = ("bowl", "block", "location")[seed % 3]
    for _ in range(100):
        objects = tuple(default_scene(rng))
        blocks = [o.name for o in objects if o.category == "block"]
        bowls = [o.name for o in objects if o.category == "bowl"]
        obj = blocks[int(rng.integers(len(blocks)))]
        if kind == "bowl":
            target = bowls[int(rng.integers(len(bowls)))]
        elif kind == "block":
            target = [b for b in blocks if b != obj][int(rng.integers(len(blocks) - 1))]
        else:
            free = [
                name
                for name, loc in LOCATIONS.items()
                if all(np.hypot(o.xy[0] - loc[0], o.xy[1] - loc[1]) > 0.12 for o in objects)
            ]
            if not free:
                continue
            target = free[int(rng.integers(len(free)))]
        return Case(seed, kind, objects, obj, target)
    raise RuntimeError("no free location")
