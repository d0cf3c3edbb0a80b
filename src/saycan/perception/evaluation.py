"""How well a perception backend sees: its detections matched one-to-one to the simulator's
ground truth (Hungarian assignment on 3D distance, a penalty for a different name), scored as
precision, recall, attribute accuracy and position error. One scorer for the perception
benchmark and for validating a freshly trained segmenter, so the two report the same figures."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from saycan.drivers.types import Observation
from saycan.perception.scene import SceneObject

#: Added to the matching cost (m) when a detection's name differs from the object's.
NAME_PENALTY = 0.05


def match_scene(
    detections: Sequence[SceneObject], truth: Sequence[Any], match_radius_m: float = 0.05
) -> list[tuple[int, int, float]]:
    """(detection index, truth index, distance m) for each matched pair."""
    if not detections or not truth:
        return []
    D = np.array([d.position for d in detections], dtype=float)
    G = np.array([g.position for g in truth], dtype=float)
    dist = np.linalg.norm(D[:, None, :] - G[None, :, :], axis=-1)
    names = np.array([[d.name != g.name for g in truth] for d in detections], dtype=float)
    cost = dist + NAME_PENALTY * names
    cost[dist > match_radius_m] = 1e6
    rows, cols = linear_sum_assignment(cost)
    return [
        (int(r), int(c), float(dist[r, c]))
        for r, c in zip(rows, cols)
        if dist[r, c] <= match_radius_m
    ]


def observation_of(scene: Any, with_ground_truth: bool) -> Observation:
    """The observation a backend receives; camera backends never get ground truth."""
    return Observation(
        rgb=scene.rgb,
        depth=scene.depth,
        camera=scene.camera,
        joint_positions=np.zeros(7),
        gripper_width=0.0,
        ee_position=scene.ee_position,
        gripper_holding=scene.gripper_holding,
        ground_truth=scene.ground_truth if with_ground_truth else None,
    )


def evaluate(
    perception: Any,
    scenes: Sequence[Any],
    *,
    uses_ground_truth: bool,
    match_radius_m: float = 0.05,
    min_visible_pixels: int = 50,
    history: Mapping[int, Sequence[Observation]] | None = None,
) -> dict[str, Any]:
    """Detection, attribute and position figures of one backend over rendered scenes.

    `history`: per scene seed, earlier frames the backend perceives (after its per-scene
    `reset`) before the scored one, as in an episode; only the last frame is scored."""
    tp = fp = fn = attr_ok = 0
    vis_total = vis_found = hidden_total = hidden_found = 0
    errors: list[float] = []
    seconds: list[float] = []
    for scene in scenes:
        perception.reset(np.random.default_rng([scene.seed, 1]))  # every Perception declares it
        for earlier in (history or {}).get(scene.seed, ()):
            perception.perceive(
                earlier if uses_ground_truth else replace(earlier, ground_truth=None)
            )
        obs = observation_of(scene, uses_ground_truth)
        t0 = time.perf_counter()
        dets = list(perception.perceive(obs).objects)
        seconds.append(time.perf_counter() - t0)
        truth = [g for g in scene.ground_truth if g.position[2] > -0.05]
        pairs = match_scene(dets, truth, match_radius_m)
        tp += len(pairs)
        fp += len(dets) - len(pairs)
        fn += len(truth) - len(pairs)
        attr_ok += sum(dets[d].name == truth[g].name for d, g, _ in pairs)
        errors += [e for _, _, e in pairs]
        matched = {g for _, g, _ in pairs}
        for gi, g in enumerate(truth):
            if scene.visible_pixels.get(g.name, 0) >= min_visible_pixels:
                vis_total += 1
                vis_found += gi in matched
            else:
                hidden_total += 1
                hidden_found += gi in matched
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "scenes": len(scenes),
        "objects": tp + fn,
        "detections": tp + fp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "attribute_accuracy": round(attr_ok / tp, 4) if tp else 0.0,
        "mean_position_error_m": round(float(np.mean(errors)), 4) if errors else None,
        "median_position_error_m": round(float(np.median(errors)), 4) if errors else None,
        "recall_visible": round(vis_found / vis_total, 4) if vis_total else None,
        "visible_objects": vis_total,
        "recall_hidden": round(hidden_found / hidden_total, 4) if hidden_total else None,
        "median_perceive_s": round(float(np.median(seconds)), 4) if seconds else None,
    }
