"""`pick_and_place`'s learned-affordance features (the layout the packaged checkpoint was
trained on: do not reorder; add a feature by bumping `FEATURE_VERSION` and retraining)."""

from __future__ import annotations

import math

import numpy as np

from saycan.perception.scene import SceneDescription
from saycan.skills.affordances.features import best_clearance, nearest, stacked_on_top, vector
from saycan.skills.pick_and_place.surface import place_surface
from saycan.skills.types import SkillCall
from saycan.skills.workspace import outside

NAMES = (
    "obj_missing",
    "obj_not_block",
    "obj_covered",
    "obj_on_block",
    "obj_in_bowl",
    "holding_this",
    "holding_other",
    "target_missing",
    "target_is_obj",
    "target_block",
    "target_bowl",
    "target_location",
    "target_covered",
    "target_rests_on_obj",
    "target_stacked",
    "obj_x",
    "obj_y",
    "obj_z",
    "obj_r",
    "obj_bearing",
    "obj_out",
    "tgt_x",
    "tgt_y",
    "tgt_z",
    "tgt_r",
    "tgt_bearing",
    "tgt_out",
    "transport_xy",
    "pick_clearance",
    "place_clearance",
    "obj_nearest",
    "tgt_nearest",
    "bowl_contents",
    "n_objects",
)


def place_features(call: SkillCall, scene: SceneDescription) -> np.ndarray:
    f = dict.fromkeys(NAMES, 0.0)
    f["n_objects"] = float(len(scene.objects))
    obj_name = call.args[0] if call.args else ""
    target_name = call.args[1] if len(call.args) > 1 else ""
    obj = scene.get(obj_name)
    if obj is None:
        f["obj_missing"] = 1.0
        return vector(f, NAMES)
    f["obj_not_block"] = float(obj.category != "block")
    f["obj_covered"] = float(scene.is_covered(obj_name))
    support = scene.get(scene.support_of(obj_name) or "")
    f["obj_on_block"] = float(support is not None and support.category == "block")
    f["obj_in_bowl"] = float(support is not None and support.category == "bowl")
    f["holding_this"] = float(scene.holding == obj_name)
    f["holding_other"] = float(scene.holding not in (None, obj_name))
    x, y, z = obj.position
    f.update(
        obj_x=x,
        obj_y=y,
        obj_z=z,
        obj_r=math.hypot(x, y),
        obj_bearing=math.atan2(y, x),
        obj_out=outside(x, y),
    )
    riders = set(stacked_on_top(scene, obj_name))
    neighbours = [o for o in scene.objects if o.name != obj_name and o.name not in riders]
    f["obj_nearest"] = nearest(
        (x, y), [o for o in neighbours if o.name != (support.name if support else "")]
    )
    f["pick_clearance"] = best_clearance((x, y), [o for o in scene.objects if o.name != obj_name])
    surface = place_surface(scene, target_name)
    if target_name == obj_name:
        f["target_is_obj"] = 1.0
        return vector(f, NAMES)
    if surface is None:
        f["target_missing"] = 1.0
        return vector(f, NAMES)
    target = scene.get(target_name)
    if target is None:
        f["target_location"] = 1.0
    elif target.category == "bowl":
        f["target_bowl"] = 1.0
        f["bowl_contents"] = float(
            sum(
                1
                for r in scene.relations
                if r.predicate == "in" and r.object == target_name and r.subject != obj_name
            )
        )
    else:
        f["target_block"] = 1.0
        f["target_covered"] = float(scene.is_covered(target_name))
        f["target_stacked"] = float(scene.support_of(target_name) is not None)
    f["target_rests_on_obj"] = float(target_name in riders)
    tx, ty, tz = surface
    f.update(
        tgt_x=tx,
        tgt_y=ty,
        tgt_z=tz,
        tgt_r=math.hypot(tx, ty),
        tgt_bearing=math.atan2(ty, tx),
        tgt_out=outside(tx, ty),
    )
    f["transport_xy"] = math.hypot(tx - x, ty - y)
    place_others = [o for o in scene.objects if o.name not in (obj_name, target_name)]
    f["place_clearance"] = best_clearance((tx, ty), place_others)
    # Free space at the place point, ignoring the target and anything in it (a bowl's contents).
    in_target = {r.subject for r in scene.relations if r.object == target_name}
    f["tgt_nearest"] = nearest((tx, ty), [o for o in place_others if o.name not in in_target])
    return vector(f, NAMES)
