"""Benchmark of the motor primitives: one pick_and_place per seeded random scene.

Each trial builds a clean random scene (2-3 blocks, 1-2 bowls), picks a random block and a
random target of kind `kinds[i % len(kinds)]` (a bowl, another block, or a named table location
that no object occupies), runs `primitives.pick_and_place` through the driver's
`MotionInterface`, lets the world settle and judges the goal by simulator ground truth.
A trial succeeds when the goal holds, the gripper let go and no other object moved.

`bench_primitives(cfg)` returns a JSON-ready dict; failures are counted by typed reason
(`FailureReason` values), plus `goal_not_met` when the skill reported success but the goal does
not hold (the skill's own verdict was wrong) and `disturbed` when a bystander moved.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from saycan.perception.scene import SceneDescription, SceneObject
from saycan.sim import geometry
from saycan.sim.layout import default_scene
from saycan.sim.scene_spec import ObjectSpec
from saycan.skills.pick_and_place import place_surface
from saycan.skills.pick_and_place.expert import move as place_call
from saycan.skills.primitives import PrimitiveParams, pick_and_place
from saycan.world import CONTROL_HZ, LOCATIONS


@dataclass(frozen=True)
class Trial:
    seed: int
    kind: str  # "bowl" | "block" | "location"
    objects: tuple[ObjectSpec, ...]
    obj: str
    target: str


def make_trial(seed: int, kind: str) -> Trial:
    """A seeded scene and a (block, target) pair; locations are chosen among free ones."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        objects = tuple(default_scene(rng))
        blocks = [o.name for o in objects if o.category == "block"]
        bowls = [o.name for o in objects if o.category == "bowl"]
        obj = blocks[int(rng.integers(len(blocks)))]
        if kind == "bowl":
            target = bowls[int(rng.integers(len(bowls)))]
        elif kind == "block":
            others = [b for b in blocks if b != obj]
            target = others[int(rng.integers(len(others)))]
        elif kind == "location":
            free = [
                name
                for name, loc in LOCATIONS.items()
                if all(np.hypot(o.xy[0] - loc[0], o.xy[1] - loc[1]) > 0.12 for o in objects)
            ]
            if not free:
                continue
            target = free[int(rng.integers(len(free)))]
        else:
            raise ValueError(f"unknown target kind {kind!r}")
        return Trial(seed, kind, objects, obj, target)
    raise RuntimeError(f"seed {seed}: no free location in 100 scenes")


def scene_from_states(states: dict) -> SceneDescription:
    """The ground-truth scene the skill layer would see (so targets resolve through the same
    `place_surface` the skills use)."""
    objects = tuple(
        SceneObject(o.name, o.category, o.colour, o.position, o.size) for o in states.values()
    )
    return SceneDescription(objects, locations=dict(LOCATIONS))


def run_trial(driver: Any, trial: Trial, params: PrimitiveParams | None = None) -> dict[str, Any]:
    """One pick_and_place on a connected simulator driver (`SimulatorExtras` places the scene)."""
    driver.reset_scene(trial.objects, seed=trial.seed)
    states = {s.name: s for s in driver.get_observation().ground_truth}
    scene = scene_from_states(states)
    start_step = driver.get_observation().step
    t0 = time.perf_counter()
    res = pick_and_place(
        driver.motion,
        scene.get(trial.obj),
        place_surface(scene, trial.target),
        place_call(trial.obj, trial.target),
        params=params,
        obstacles=[(s.position, s.size) for n, s in states.items() if n != trial.obj],
    )
    wall = time.perf_counter() - t0
    sim_steps = driver.get_observation().step - start_step
    settle = getattr(getattr(driver, "env", None), "motion", None)
    if settle is not None:
        settle.step(120)  # let the world come to rest before judging
    obs = driver.get_observation()
    final = {s.name: s for s in obs.ground_truth}
    moved = final[trial.obj]
    if trial.kind == "bowl":
        holds = geometry.is_in_bowl(moved.position, final[trial.target].position)
    elif trial.kind == "block":
        t = final[trial.target]
        holds = geometry.is_on(moved.position, moved.size, t.position, t.size)
    else:
        holds = geometry.is_at(moved.position, LOCATIONS[trial.target], tolerance=0.03)
    still = all(
        np.linalg.norm(np.subtract(final[n].position, s.position)) < 0.01
        for n, s in states.items()
        if n not in (trial.obj, trial.target)
    )
    success = bool(res.success and holds and still and not obs.gripper_holding)
    if success:
        reason = None
    elif not res.success:
        reason = res.reason.value if res.reason else "unknown"
    elif not holds:
        reason = "goal_not_met"
    elif not still:
        reason = "disturbed"
    else:
        reason = "dropped"
    return {
        "seed": trial.seed,
        "kind": trial.kind,
        "object": trial.obj,
        "target": trial.target,
        "success": success,
        "reason": reason,
        "message": res.message,
        "wall_s": wall,
        "sim_steps": int(sim_steps),
    }


def _run_range(cfg_yaml: str, seeds: list[int]) -> list[dict[str, Any]]:
    cfg = OmegaConf.create(cfg_yaml)
    kinds = list(cfg.kinds)
    robot = OmegaConf.to_container(cfg.robot, resolve=True)
    robot["camera_width"] = int(cfg.camera_width)
    robot["camera_height"] = int(cfg.camera_height)
    driver = instantiate(robot)
    driver.connect()
    try:
        out = []
        for seed in seeds:
            kind = kinds[(seed - int(cfg.seed_start)) % len(kinds)]
            out.append(run_trial(driver, make_trial(seed, kind)))
        return out
    finally:
        driver.disconnect()


def bench_primitives(cfg: DictConfig) -> dict[str, Any]:
    """Run `cfg.trials` seeded trials (seeds `seed_start`, +1, ...) and summarise them."""
    trials = int(cfg.trials)
    seeds = [int(cfg.seed_start) + i for i in range(trials)]
    cfg_yaml = OmegaConf.to_yaml(cfg, resolve=False)
    workers = max(1, int(cfg.get("workers", 1) or 1))
    t0 = time.perf_counter()
    if workers == 1:
        rows = _run_range(cfg_yaml, seeds)
    else:
        from concurrent.futures import ProcessPoolExecutor

        chunks = [seeds[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_run_range, [cfg_yaml] * workers, chunks))
        rows = sorted((r for p in parts for r in p), key=lambda r: r["seed"])
    failures = Counter(r["reason"] for r in rows if not r["success"])
    by_kind = {
        k: round(float(np.mean([r["success"] for r in rows if r["kind"] == k])), 4)
        for k in dict.fromkeys(r["kind"] for r in rows)
    }
    robot_cfg = cfg.robot
    robot = robot_cfg.get("robot") or robot_cfg.get("name") or str(robot_cfg.get("_target_"))
    return {
        "robot": str(robot),
        "trials": trials,
        "seed_start": int(cfg.seed_start),
        "successes": int(sum(r["success"] for r in rows)),
        "success_rate": round(float(np.mean([r["success"] for r in rows])) if rows else 0.0, 4),
        "success_by_kind": by_kind,
        "failures": dict(sorted(failures.items())),
        "failed_seeds": {r["seed"]: r["reason"] for r in rows if not r["success"]},
        "median_wall_s": round(statistics.median(r["wall_s"] for r in rows), 3) if rows else None,
        "median_sim_s": round(statistics.median(r["sim_steps"] for r in rows) / CONTROL_HZ, 3)
        if rows
        else None,
        "median_sim_steps": int(statistics.median(r["sim_steps"] for r in rows)) if rows else None,
        "total_wall_s": round(time.perf_counter() - t0, 1),
        "workers": workers,
    }


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - dev entry point
    """`python -m saycan.eval.bench_primitives [overrides]` until the CLI wires `saycan bench`."""
    import json
    import sys

    from hydra import compose, initialize_config_module

    with initialize_config_module("saycan.configs", version_base=None):
        cfg = compose("bench_primitives", overrides=list(sys.argv[1:] if argv is None else argv))
    result = bench_primitives(cfg)
    if cfg.get("output"):
        from saycan.files import write_atomic

        write_atomic(cfg.output, json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":  # pragma: no cover
    main()
