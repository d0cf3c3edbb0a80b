"""`SceneDescription`: what perception tells the planner and the affordance models.

The planner and affordances consume only this value (never simulator state), so swapping the
oracle for a learned perception model changes nothing above this layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from saycan.drivers.types import Vec3

TextFormat = Literal["saycan", "rich"]


@dataclass(frozen=True)
class SceneObject:
    name: str  # "red block": unique, what the LLM reads and the skills refer to
    category: str  # "block" | "bowl"
    colour: str
    position: Vec3  # metres, world frame (centre of the object's bounding box)
    size: Vec3 = (0.04, 0.04, 0.04)  # bounding box extent, metres
    confidence: float = 1.0


@dataclass(frozen=True)
class Relation:
    subject: str
    predicate: str  # "in" | "on"
    object: str

    def to_text(self) -> str:
        return f"{self.subject} {self.predicate} {self.object}"


@dataclass(frozen=True)
class SceneDescription:
    objects: tuple[SceneObject, ...]
    relations: tuple[Relation, ...] = ()
    holding: str | None = None
    locations: dict[str, Vec3] = field(default_factory=dict, compare=False, hash=False)

    # -- lookup -------------------------------------------------------------------------------
    def get(self, name: str) -> SceneObject | None:
        return next((o for o in self.objects if o.name == name), None)

    def names(self, category: str | None = None) -> list[str]:
        return [o.name for o in self.objects if category is None or o.category == category]

    def is_covered(self, name: str) -> bool:
        """Something rests on `name` (it cannot be picked without toppling that thing)."""
        return any(r.predicate == "on" and r.object == name for r in self.relations)

    def support_of(self, name: str) -> str | None:
        """What `name` rests on or in, if anything."""
        return next(
            (r.object for r in self.relations if r.subject == name and r.predicate in ("on", "in")),
            None,
        )

    def position(self, name: str) -> np.ndarray:
        obj = self.get(name)
        if obj is not None:
            return np.asarray(obj.position, dtype=float)
        if name in self.locations:
            return np.asarray(self.locations[name], dtype=float)
        raise KeyError(name)

    # -- rendering for prompts ----------------------------------------------------------------
    def to_text(self, fmt: TextFormat = "saycan") -> str:
        """`saycan`: the notebook's `objects = [...]` line. `rich`: plus relations and gripper."""
        line = "objects = [" + ", ".join(self.names()) + "]"
        if fmt == "saycan":
            return line
        if fmt == "rich":
            parts = [line]
            if self.relations:
                parts.append("relations = [" + ", ".join(r.to_text() for r in self.relations) + "]")
            parts.append(f"holding = {self.holding or 'nothing'}")
            return "\n".join(parts)
        raise ValueError(f"unknown scene text format {fmt!r} (use 'saycan' or 'rich')")
