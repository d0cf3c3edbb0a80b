"""`saycan bench affordance`: how well each affordance backend predicts skill success.

Held-out skill attempts (real physics, seeds disjoint from the checkpoint's training seeds,
checked) are scored by every backend in `cfg.backends`; each gets `n, auc, ece, brier,
accuracy` (at 0.5) overall and per skill family. The analytic rules get a live simulator's
`MotionInterface` for their IK reachability checks, as they do in an episode.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from saycan.errors import ConfigError
from saycan.skills.types import SkillCall
from saycan.train.affordance import evaluate
from saycan.train.affordance_data import load_or_generate, read_jsonl, scene_from_json


def resolve_path(path: str) -> Path:
    """A filesystem path, or `pkg://saycan/<file>` inside the installed package."""
    if path.startswith("pkg://"):
        package, _, rel = path.removeprefix("pkg://").partition("/")
        return Path(str(resources.files(package).joinpath(rel)))
    return Path(path)


def heldout_rows(cfg: DictConfig, run_dir: Path) -> tuple[list[dict[str, Any]], str]:
    """The held-out attempts and where they came from."""
    path = resolve_path(str(cfg.heldout_path)) if cfg.get("heldout_path") else None
    if path is not None and path.is_file():
        return read_jsonl(path), str(path)
    start, n = int(cfg.heldout_seed_start), int(cfg.heldout_attempts)
    workers = max(1, int(cfg.get("workers", 1) or 1))
    out = run_dir / "heldout.jsonl"
    return load_or_generate(out, cfg, range(start, start + n), workers), f"generated: {out}"


def bench_affordance(cfg: DictConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    run_dir = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path(".")
    rows, source = heldout_rows(cfg, run_dir)
    rows = [r for r in rows if "error" not in r]
    if not rows:
        raise ConfigError("no held-out attempts to evaluate (heldout_attempts=0?)")
    robot = OmegaConf.to_container(cfg.robot, resolve=True)
    robot["camera_width"], robot["camera_height"] = 32, 24
    driver = instantiate(robot)
    driver.connect()
    results: dict[str, Any] = {}
    library = instantiate(cfg.skills)
    families = tuple(library.learned())
    try:
        for name, node in cfg.backends.items():
            model = instantiate(node, motion=driver.motion, skills=library)
            train_seeds = getattr(model, "meta", {}).get("training", {}).get("seeds")
            if train_seeds is not None:
                lo, hi = train_seeds
                overlap = [r["seed"] for r in rows if lo <= r["seed"] <= hi]
                if overlap:
                    raise ConfigError(
                        f"{len(overlap)} held-out attempts use training seeds ({lo}..{hi}) of "
                        f"{name}"
                    )
            t = time.perf_counter()
            results[name] = evaluate(model, rows, families)
            results[name]["ms_per_call"] = round(1000 * (time.perf_counter() - t) / len(rows), 3)
    finally:
        driver.disconnect()
    learned = results.get("learned")
    out: dict[str, Any] = {
        "benchmark": "affordance",
        "heldout": source,
        "seeds": [min(r["seed"] for r in rows), max(r["seed"] for r in rows)],
        "success_rate": round(float(np.mean([r["success"] for r in rows])), 4),
        "backends": results,
    }
    if learned is not None:
        goal = cfg.get("goal") or {}
        out["goal"] = {
            "auc": float(goal.get("auc", 0.95)),
            "ece": float(goal.get("ece", 0.05)),
        }
        out["goal"]["met"] = bool(
            learned["auc"] is not None
            and learned["auc"] >= out["goal"]["auc"]
            and learned["ece"] <= out["goal"]["ece"]
        )
        if (
            "analytic" in results
            and results["analytic"]["auc"] is not None
            and learned["auc"] is not None
        ):
            out["learned_beats_analytic_auc"] = bool(learned["auc"] > results["analytic"]["auc"])
        out["batch_ms"] = _batch_timing(cfg, rows)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    return out


def _batch_timing(cfg: DictConfig, rows: list[dict[str, Any]]) -> dict[str, float] | None:
    """Median time (ms) of one `values` batch over every candidate of a scene's decision (the
    planner's job), across the first 50 held-out scenes."""
    from saycan.skills.affordances.learned import LearnedAffordance

    library = instantiate(cfg.skills)
    model = instantiate(cfg.backends.learned, skills=library)
    if not isinstance(model, LearnedAffordance):
        return None
    times, sizes = [], []
    for r in rows[:50]:
        scene = scene_from_json(r["scene"])
        calls: list[SkillCall] = library.candidates(scene)
        t = time.perf_counter()
        model.values(calls, scene)
        times.append(1000 * (time.perf_counter() - t))
        sizes.append(len(calls))
    return {
        "median_ms": round(float(np.median(times)), 3),
        "median_candidates": int(np.median(sizes)),
    }
