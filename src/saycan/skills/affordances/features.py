"""Features of a (skill call, scene) pair for the learned affordance value functions.

Computed from the `SceneDescription` alone (what any perception backend gives: object names,
categories, positions, sizes, relations, what the gripper holds) and the call's arguments, so
the same features exist in simulation, on a real arm and in the training data. Never from
simulator state. Positions are in the world frame of the robot base (the Panda at the origin),
so a checkpoint is specific to one robot mounting; the checkpoint records which.

One vector layout per skill family (`FEATURES[family]`); a version number guards a checkpoint
against a layout it was not trained on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from saycan.perception.scene import SceneDescription, SceneObject
from saycan.skills.library import DEFAULT_PUSH_DISTANCE, PUSH_DIRECTIONS, place_surface
from saycan.skills.primitives import PrimitiveParams, PushParams, finger_clearance, push_waypoints, yaw_orientation
from saycan.skills.types import SkillCall
from saycan.sim.scene_spec import WORKSPACE_X, WORKSPACE_Y

#: Bump when a feature's meaning or order changes (checkpoints store the version they used).
FEATURE_VERSION = 1
#: Distances (clearances, gaps) are capped here: farther is no different for a 4 cm block.
CAP = 0.15
#: What "no neighbour" reads as.
FAR = CAP

_PLACE_NAMES = (
    "obj_missing", "obj_not_block", "obj_covered", "obj_on_block", "obj_in_bowl",
    "holding_this", "holding_other", "target_missing", "target_is_obj", "target_block",
    "target_bowl", "target_location", "target_covered", "target_rests_on_obj", "target_stacked",
    "obj_x", "obj_y", "obj_z", "obj_r", "obj_bearing", "obj_out",
    "tgt_x", "tgt_y", "tgt_z", "tgt_r", "tgt_bearing", "tgt_out",
    "transport_xy", "pick_clearance", "place_clearance", "obj_nearest", "tgt_nearest",
    "bowl_contents", "n_objects",
)
_PUSH_NAMES = (
    "obj_missing", "obj_not_block", "obj_covered", "obj_on_block", "obj_in_bowl", "holding_any",
    "dir_left", "dir_right", "dir_forward", "dir_backward", "dir_unknown",
    "obj_x", "obj_y", "obj_r", "obj_bearing", "obj_out",
    "start_x", "start_y", "start_r", "start_out", "end_x", "end_y", "end_r", "end_out",
    "start_clearance", "path_clearance", "obj_nearest", "n_objects",
)
#: Feature names per skill family, in vector order.
FEATURES: dict[str, tuple[str, ...]] = {"pick_and_place": _PLACE_NAMES, "push": _PUSH_NAMES}


def features(call: SkillCall, scene: SceneDescription, push_distance: float = DEFAULT_PUSH_DISTANCE) -> np.ndarray:
    """The feature vector of `call` in `scene` (layout `FEATURES[call.skill]`)."""
    if call.skill == "pick_and_place":
        return _place_features(call, scene)
    if call.skill == "push":
        return _push_features(call, scene, push_distance)
    raise ValueError(f"no affordance features for skill {call.skill!r}")


def outside(x: float, y: float) -> float:
    """Signed distance (m) from the workspace rectangle: > 0 outside, < 0 inside (depth)."""
    dx = max(WORKSPACE_X[0] - x, x - WORKSPACE_X[1])
    dy = max(WORKSPACE_Y[0] - y, y - WORKSPACE_Y[1])
    if dx <= 0 and dy <= 0:
        return max(dx, dy)
    return math.hypot(max(dx, 0.0), max(dy, 0.0))


def _footprint(o: SceneObject) -> float:
    return max(o.size[0], o.size[1]) / 2


def _nearest(xy: Sequence[float], others: Sequence[SceneObject]) -> float:
    """Smallest gap (m) between a point and the footprints of `others` (capped)."""
    gaps = [math.hypot(o.position[0] - xy[0], o.position[1] - xy[1]) - _footprint(o) for o in others]
    return min([CAP, *gaps])


def _best_clearance(centre: Sequence[float], others: Sequence[SceneObject]) -> float:
    """The open fingers' clearance at the best of the primitive's grasp yaws (capped): the
    pick-and-place primitive chooses the yaw the same way."""
    p = PrimitiveParams()
    obstacles = [(o.position, o.size) for o in others if math.hypot(o.position[0] - centre[0], o.position[1] - centre[1]) >= 0.015]
    if not obstacles:
        return CAP
    best = max(finger_clearance(p, centre, yaw_orientation(p.orientation, yaw), obstacles) for yaw in p.yaw_candidates)
    return float(min(CAP, best))


def _stacked_on_top(scene: SceneDescription, name: str) -> list[str]:
    """Everything resting (transitively) on `name`."""
    out, frontier = [], [name]
    while frontier:
        base = frontier.pop()
        for r in scene.relations:
            if r.predicate == "on" and r.object == base and r.subject not in out:
                out.append(r.subject)
                frontier.append(r.subject)
    return out


def _place_features(call: SkillCall, scene: SceneDescription) -> np.ndarray:
    f = dict.fromkeys(_PLACE_NAMES, 0.0)
    f["n_objects"] = float(len(scene.objects))
    obj_name = call.args[0] if call.args else ""
    target_name = call.args[1] if len(call.args) > 1 else ""
    obj = scene.get(obj_name)
    if obj is None:
        f["obj_missing"] = 1.0
        return _vector(f, _PLACE_NAMES)
    f["obj_not_block"] = float(obj.category != "block")
    f["obj_covered"] = float(scene.is_covered(obj_name))
    support = scene.get(scene.support_of(obj_name) or "")
    f["obj_on_block"] = float(support is not None and support.category == "block")
    f["obj_in_bowl"] = float(support is not None and support.category == "bowl")
    f["holding_this"] = float(scene.holding == obj_name)
    f["holding_other"] = float(scene.holding not in (None, obj_name))
    x, y, z = obj.position
    f.update(obj_x=x, obj_y=y, obj_z=z, obj_r=math.hypot(x, y), obj_bearing=math.atan2(y, x), obj_out=outside(x, y))
    riders = set(_stacked_on_top(scene, obj_name))
    neighbours = [o for o in scene.objects if o.name != obj_name and o.name not in riders]
    f["obj_nearest"] = _nearest((x, y), [o for o in neighbours if o.name != (support.name if support else "")])
    f["pick_clearance"] = _best_clearance((x, y), [o for o in scene.objects if o.name != obj_name])
    surface = place_surface(scene, target_name)
    if target_name == obj_name:
        f["target_is_obj"] = 1.0
        return _vector(f, _PLACE_NAMES)
    if surface is None:
        f["target_missing"] = 1.0
        return _vector(f, _PLACE_NAMES)
    target = scene.get(target_name)
    if target is None:
        f["target_location"] = 1.0
    elif target.category == "bowl":
        f["target_bowl"] = 1.0
        f["bowl_contents"] = float(sum(1 for r in scene.relations if r.predicate == "in" and r.object == target_name and r.subject != obj_name))
    else:
        f["target_block"] = 1.0
        f["target_covered"] = float(scene.is_covered(target_name))
        f["target_stacked"] = float(scene.support_of(target_name) is not None)
    f["target_rests_on_obj"] = float(target_name in riders)
    tx, ty, tz = surface
    f.update(tgt_x=tx, tgt_y=ty, tgt_z=tz, tgt_r=math.hypot(tx, ty), tgt_bearing=math.atan2(ty, tx), tgt_out=outside(tx, ty))
    f["transport_xy"] = math.hypot(tx - x, ty - y)
    place_others = [o for o in scene.objects if o.name not in (obj_name, target_name)]
    f["place_clearance"] = _best_clearance((tx, ty), place_others)
    # Free space at the place point, ignoring the target and anything in it (a bowl's contents).
    in_target = {r.subject for r in scene.relations if r.object == target_name}
    f["tgt_nearest"] = _nearest((tx, ty), [o for o in place_others if o.name not in in_target])
    return _vector(f, _PLACE_NAMES)


def _push_features(call: SkillCall, scene: SceneDescription, distance: float) -> np.ndarray:
    f = dict.fromkeys(_PUSH_NAMES, 0.0)
    f["n_objects"] = float(len(scene.objects))
    obj = scene.get(call.args[0]) if call.args else None
    if obj is None:
        f["obj_missing"] = 1.0
        return _vector(f, _PUSH_NAMES)
    name = obj.name
    f["obj_not_block"] = float(obj.category != "block")
    f["obj_covered"] = float(scene.is_covered(name))
    support = scene.get(scene.support_of(name) or "")
    f["obj_on_block"] = float(support is not None and support.category == "block")
    f["obj_in_bowl"] = float(support is not None and support.category == "bowl")
    f["holding_any"] = float(scene.holding is not None)
    x, y, _ = obj.position
    f.update(obj_x=x, obj_y=y, obj_r=math.hypot(x, y), obj_bearing=math.atan2(y, x), obj_out=outside(x, y))
    others = [o for o in scene.objects if o.name != name]
    f["obj_nearest"] = _nearest((x, y), others)
    direction = call.args[1] if len(call.args) > 1 else ""
    d = PUSH_DIRECTIONS.get(direction)
    if d is None:
        f["dir_unknown"] = 1.0
        return _vector(f, _PUSH_NAMES)
    f[f"dir_{direction}"] = 1.0
    start, _ = push_waypoints(obj.position, obj.size, d, distance, PushParams())
    end = (x + d[0] * distance, y + d[1] * distance)
    f.update(start_x=start[0], start_y=start[1], start_r=math.hypot(start[0], start[1]), start_out=outside(start[0], start[1]))
    f.update(end_x=end[0], end_y=end[1], end_r=math.hypot(*end), end_out=outside(*end))
    f["start_clearance"] = _nearest(start[:2], others)
    half = _footprint(obj)
    gaps = [_segment_gap(o.position[:2], start[:2], end) - half - _footprint(o) for o in others]
    f["path_clearance"] = min([CAP, *gaps])
    return _vector(f, _PUSH_NAMES)


def _segment_gap(p: Sequence[float], a: Sequence[float], b: Sequence[float]) -> float:
    """Distance from point `p` to the segment `a`-`b` (xy)."""
    pa = np.subtract(p, a, dtype=float)
    ab = np.subtract(b, a, dtype=float)
    n2 = float(ab @ ab)
    t = 0.0 if n2 == 0 else min(1.0, max(0.0, float(pa @ ab) / n2))
    return float(np.linalg.norm(pa - t * ab))


def _vector(f: dict[str, float], names: Sequence[str]) -> np.ndarray:
    return np.array([f[n] for n in names], dtype=np.float32)
