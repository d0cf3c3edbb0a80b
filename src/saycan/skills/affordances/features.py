"""Shared pieces of the learned affordance's features: each skill unit owns its own feature
layout (`feature_names`) and vector (`features(call, scene)`); these are the measurements the
layouts have in common.

Features are computed from the `SceneDescription` alone (what any perception backend gives:
object names, categories, positions, sizes, relations, what the gripper holds) and the call's
arguments, so the same features exist in simulation, on a real arm and in the training data.
Never from simulator state. Positions are in the world frame of the robot base (the Panda at
the origin), so a checkpoint is specific to one robot mounting; the checkpoint records which.
A version number guards a checkpoint against a layout it was not trained on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from saycan.perception.scene import SceneDescription, SceneObject
from saycan.skills.base import LearnedFeatures, SkillLibrary, default_library
from saycan.skills.primitives import PrimitiveParams, finger_clearance, yaw_orientation
from saycan.skills.types import SkillCall
from saycan.skills.workspace import outside

__all__ = [
    "CAP",
    "FAR",
    "FEATURE_VERSION",
    "best_clearance",
    "features",
    "footprint",
    "nearest",
    "outside",
    "segment_gap",
    "stacked_on_top",
    "vector",
]

#: Bump when a feature's meaning or order changes (checkpoints store the version they used).
FEATURE_VERSION = 1
#: Distances (clearances, gaps) are capped here: farther is no different for a 4 cm block.
CAP = 0.15
#: What "no neighbour" reads as.
FAR = CAP


def features(
    call: SkillCall, scene: SceneDescription, skills: SkillLibrary | None = None
) -> np.ndarray:
    """The feature vector of `call` in `scene`, in its skill's layout (`skills`: the library the
    call's skill is looked up in; default: the packaged one)."""
    skill = (skills or default_library()).skill_of(call)
    if not isinstance(skill, LearnedFeatures):
        raise ValueError(f"no affordance features for skill {call.skill!r}")
    return skill.features(call, scene)


def footprint(o: SceneObject) -> float:
    return max(o.size[0], o.size[1]) / 2


def nearest(xy: Sequence[float], others: Sequence[SceneObject]) -> float:
    """Smallest gap (m) between a point and the footprints of `others` (capped)."""
    gaps = [math.hypot(o.position[0] - xy[0], o.position[1] - xy[1]) - footprint(o) for o in others]
    return min([CAP, *gaps])


def best_clearance(centre: Sequence[float], others: Sequence[SceneObject]) -> float:
    """The open fingers' clearance at the best of the primitive's grasp yaws (capped): the
    pick-and-place primitive chooses the yaw the same way."""
    p = PrimitiveParams()
    obstacles = [
        (o.position, o.size)
        for o in others
        if math.hypot(o.position[0] - centre[0], o.position[1] - centre[1]) >= 0.015
    ]
    if not obstacles:
        return CAP
    best = max(
        finger_clearance(p, centre, yaw_orientation(p.orientation, yaw), obstacles)
        for yaw in p.yaw_candidates
    )
    return float(min(CAP, best))


def stacked_on_top(scene: SceneDescription, name: str) -> list[str]:
    """Everything resting (transitively) on `name`."""
    out, frontier = [], [name]
    while frontier:
        base = frontier.pop()
        for r in scene.relations:
            if r.predicate == "on" and r.object == base and r.subject not in out:
                out.append(r.subject)
                frontier.append(r.subject)
    return out


def segment_gap(p: Sequence[float], a: Sequence[float], b: Sequence[float]) -> float:
    """Distance from point `p` to the segment `a`-`b` (xy)."""
    pa = np.subtract(p, a, dtype=float)
    ab = np.subtract(b, a, dtype=float)
    n2 = float(ab @ ab)
    t = 0.0 if n2 == 0 else min(1.0, max(0.0, float(pa @ ab) / n2))
    return float(np.linalg.norm(pa - t * ab))


def vector(f: dict[str, float], names: Sequence[str]) -> np.ndarray:
    return np.array([f[n] for n in names], dtype=np.float32)
