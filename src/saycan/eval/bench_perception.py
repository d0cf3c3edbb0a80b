"""`saycan bench perception`: perception backends against simulator ground truth.

Held-out scenes (seeds disjoint from the segmenter's training and validation seeds, checked
against its checkpoint) are rendered by the real `TabletopEnv`; every backend perceives the same
observation (camera backends get it without ground truth). Detections are matched one-to-one to
ground-truth objects (Hungarian assignment on 3D distance plus a penalty for a different name,
pairs farther than `match_radius_m` never match). Reported per backend and condition:
precision, recall, f1 of the matching; attribute accuracy (name, i.e. category and colour,
right among matched pairs); mean 3D position error of matched pairs; and recall over objects
the camera can see at all (`min_visible_pixels`), since a block under another block or inside
the gripper is invisible from above (`recall_hidden`: the others). The `distractors` condition
adds 1-3 objects from `pybullet_data/random_urdfs` ids the segmenter never saw in training.
`sequence` (an additional figure; the headline numbers stay single-frame): the clean scenes
that hide a block, scored once alone and once after the frames of their making (blocks on the
table first, towers built level by level, the held block before its grasp), which is what a
backend with memory sees in an episode.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from saycan.drivers.types import Observation
from saycan.errors import ConfigError, ModelLoadError
from saycan.perception.evaluation import evaluate
from saycan.runtime.components import surfaced


def _build(node: DictConfig) -> Any:
    """Instantiate a backend; a SayCanError raised in its constructor comes out as itself."""
    try:
        return instantiate(node)
    except InstantiationException as exc:
        raise surfaced(exc) from None


def _check_heldout(seeds: range, perception: Any) -> None:
    """Refuse to benchmark a learned backend on scenes it was trained or validated on."""
    meta = getattr(perception, "meta", None) or {}
    for key in ("train_seeds", "val_seeds"):
        if key in meta:
            a, b = meta[key]
            if seeds.start < b and a < seeds.stop:
                raise ConfigError(
                    f"benchmark seeds [{seeds.start}, {seeds.stop}) overlap the checkpoint's {key} "
                    f"[{a}, {b})"
                )


def render_history(
    env: Any, scenes: Sequence[Any]
) -> tuple[list[Any], dict[int, list[Observation]]]:
    """The scenes that hide a block, and for each the earlier frames of its making
    (`perception_data.build_up`): what a camera in the loop saw before the block was hidden.
    Scenes whose earlier states cannot be built are left out."""
    from saycan.train.perception_data import build_up, hides_blocks

    kept: list[Any] = []
    history: dict[int, list[Observation]] = {}
    for scene in scenes:
        if not hides_blocks(scene.specs):
            continue
        frames = build_up(scene.specs, np.random.default_rng([scene.seed, 2]))
        if frames is None:
            continue
        observations = []
        try:
            for specs in frames:
                env.reset(seed=scene.seed, options={"objects": specs, "record_video": False})
                observations.append(env.observation())
        except (RuntimeError, ValueError):  # an earlier state that cannot be built
            continue
        kept.append(scene)
        history[scene.seed] = observations
    return kept, history


def bench_perception(cfg: DictConfig) -> dict[str, Any]:
    from saycan.train.perception_data import make_env, render_scene, seed_range

    t_start = time.perf_counter()
    seeds = seed_range(cfg.seed_start, cfg.scenes)
    lo, hi = (int(v) for v in cfg.distractor_ids)
    backends: dict[str, Any] = {}
    not_run: dict[str, str] = {}
    for name in cfg.run_backends:
        if name not in cfg.backends:
            raise ConfigError(
                f"unknown perception backend {name!r}; configured: {', '.join(cfg.backends)}"
            )
        try:
            backends[name] = _build(cfg.backends[name])
        except ModelLoadError as exc:
            not_run[name] = str(exc)
            continue
        _check_heldout(seeds, backends[name])
        trained = (getattr(backends[name], "meta", None) or {}).get("distractor_ids")
        if trained and lo < trained[1] and trained[0] < hi:
            raise ConfigError(
                f"distractor ids [{lo}, {hi}) overlap those seen in training {trained}"
            )

    results: dict[str, dict[str, Any]] = {name: {} for name in backends}
    conditions = {"clean": 0.0, "distractors": 1.0} if cfg.distractors else {"clean": 0.0}
    env = make_env(int(cfg.camera_width), int(cfg.camera_height))
    try:
        for condition, prob in conditions.items():
            scenes = [
                render_scene(
                    env,
                    s,
                    distractor_prob=prob,
                    distractor_ids=range(lo, hi),
                    task_fraction=float(cfg.task_fraction),
                )
                for s in seeds
            ]
            if condition == "clean" and cfg.sequence:
                hiding, history = render_history(env, scenes)
                for name, backend in backends.items():
                    kwargs = dict(
                        uses_ground_truth=name == "oracle",
                        match_radius_m=float(cfg.match_radius_m),
                        min_visible_pixels=int(cfg.min_visible_pixels),
                    )
                    results[name]["sequence"] = {
                        "single_frame": evaluate(backend, hiding, **kwargs),
                        "with_history": evaluate(backend, hiding, history=history, **kwargs),
                    }
                    print(
                        f"{'sequence':12s} {name:10s} {json.dumps(results[name]['sequence'])}",
                        flush=True,
                    )
            for name, backend in backends.items():
                results[name][condition] = evaluate(
                    backend,
                    scenes,
                    uses_ground_truth=name == "oracle",
                    match_radius_m=float(cfg.match_radius_m),
                    min_visible_pixels=int(cfg.min_visible_pixels),
                )
                print(
                    f"{condition:12s} {name:10s} {json.dumps(results[name][condition])}", flush=True
                )
    finally:
        env.close()

    out: dict[str, Any] = {
        "benchmark": "perception",
        "scenes": len(seeds),
        "seed_start": seeds.start,
    }
    for name, by_condition in results.items():
        out[name] = {
            **by_condition["clean"],
            **{k: by_condition[k] for k in ("distractors", "sequence") if k in by_condition},
        }
    for name, reason in not_run.items():
        out[name] = {"run": False, "reason": reason}
    seg = results.get("segmenter")
    if seg:
        goals = dict(cfg.goals)
        out["segmenter_goals"] = {
            "f1": seg["clean"]["f1"] >= goals["f1"],
            "attribute_accuracy": seg["clean"]["attribute_accuracy"] >= goals["attribute_accuracy"],
            "mean_position_error_m": (seg["clean"]["mean_position_error_m"] or 1.0)
            <= goals["mean_position_error_m"],
            **(
                {"distractor_f1": seg["distractors"]["f1"] >= goals["distractor_f1"]}
                if "distractors" in seg
                else {}
            ),
        }
    out["distractor_ids"] = [lo, hi]
    out["wall_s"] = round(time.perf_counter() - t_start, 1)
    if cfg.output:
        from saycan.files import write_atomic

        write_atomic(cfg.output, json.dumps(out) + "\n")
    return out
