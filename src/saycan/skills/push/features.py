"""`push`'s learned-affordance features (the layout the packaged checkpoint was trained on: do
not reorder; add a feature by bumping `FEATURE_VERSION` and retraining)."""

from __future__ import annotations

import math

import numpy as np

from saycan.perception.scene import SceneDescription
from saycan.skills.affordances.features import CAP, footprint, nearest, segment_gap, vector
from saycan.skills.primitives import PushParams, push_waypoints
from saycan.skills.push.directions import DIRECTIONS
from saycan.skills.types import SkillCall
from saycan.skills.workspace import outside

NAMES = (
    "obj_missing",
    "obj_not_block",
    "obj_covered",
    "obj_on_block",
    "obj_in_bowl",
    "holding_any",
    "dir_left",
    "dir_right",
    "dir_forward",
    "dir_backward",
    "dir_unknown",
    "obj_x",
    "obj_y",
    "obj_r",
    "obj_bearing",
    "obj_out",
    "start_x",
    "start_y",
    "start_r",
    "start_out",
    "end_x",
    "end_y",
    "end_r",
    "end_out",
    "start_clearance",
    "path_clearance",
    "obj_nearest",
    "n_objects",
)


def push_features(call: SkillCall, scene: SceneDescription, distance: float) -> np.ndarray:
    f = dict.fromkeys(NAMES, 0.0)
    f["n_objects"] = float(len(scene.objects))
    obj = scene.get(call.args[0]) if call.args else None
    if obj is None:
        f["obj_missing"] = 1.0
        return vector(f, NAMES)
    name = obj.name
    f["obj_not_block"] = float(obj.category != "block")
    f["obj_covered"] = float(scene.is_covered(name))
    support = scene.get(scene.support_of(name) or "")
    f["obj_on_block"] = float(support is not None and support.category == "block")
    f["obj_in_bowl"] = float(support is not None and support.category == "bowl")
    f["holding_any"] = float(scene.holding is not None)
    x, y, _ = obj.position
    f.update(
        obj_x=x,
        obj_y=y,
        obj_r=math.hypot(x, y),
        obj_bearing=math.atan2(y, x),
        obj_out=outside(x, y),
    )
    others = [o for o in scene.objects if o.name != name]
    f["obj_nearest"] = nearest((x, y), others)
    direction = call.args[1] if len(call.args) > 1 else ""
    d = DIRECTIONS.get(direction)
    if d is None:
        f["dir_unknown"] = 1.0
        return vector(f, NAMES)
    f[f"dir_{direction}"] = 1.0
    start, _ = push_waypoints(obj.position, obj.size, d, distance, PushParams())
    end = (x + d[0] * distance, y + d[1] * distance)
    f.update(
        start_x=start[0],
        start_y=start[1],
        start_r=math.hypot(start[0], start[1]),
        start_out=outside(start[0], start[1]),
    )
    f.update(end_x=end[0], end_y=end[1], end_r=math.hypot(*end), end_out=outside(*end))
    f["start_clearance"] = nearest(start[:2], others)
    half = footprint(obj)
    gaps = [segment_gap(o.position[:2], start[:2], end) - half - footprint(o) for o in others]
    f["path_clearance"] = min([CAP, *gaps])
    return vector(f, NAMES)
