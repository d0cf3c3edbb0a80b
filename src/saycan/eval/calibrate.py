"""`saycan calibrate`: conformal calibration of the planner's choice (KnowNo).

The planner decides on calibration episodes while the expert supplies the right next call at
every decision (teacher forcing: the robot executes the expert's call, so every decision is
one the planner could face on the expert's track). Each decision's nonconformity score is
1 - p(right call), p the planner's softmax over its combined scores; `q_hat` for coverage
1 - epsilon goes to a small JSON file that `ask_for_help.quantile_file` reads.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from saycan.errors import ConfigError
from saycan.eval.jobs import episode_dir_name
from saycan.planner.ask import conformal_quantile, right_call
from saycan.planner.decision import Decision, option_probabilities
from saycan.planner.success import HasExpertPlan
from saycan.runtime.components import build_components
from saycan.runtime.episode import run_episode
from saycan.sim.tasks.families import expand_tasks

#: Seeds calibration must never use: development seeds, and evaluation seeds (>= this).
DEV_SEEDS = range(1000, 1005)
EVAL_SEED_START = 100000


class TeacherForcedPlanner:
    """Asks the wrapped planner, records 1 - p(right call), then executes the right call."""

    def __init__(self, planner: Any):
        self.inner = planner
        self.name = getattr(planner, "name", type(planner).__name__)
        self.scores: list[float] = []
        self.probs: list[list[float]] = []  # every decision's option probabilities, high first
        self._plan: list = []

    @property
    def scorer(self) -> Any:
        return getattr(self.inner, "scorer", None)

    @property
    def prompt(self) -> Any:  # seeds checks read the prompt's example pool through it
        return getattr(self.inner, "prompt", None)

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        if not isinstance(task, HasExpertPlan):
            raise ConfigError("calibration needs tasks with an expert plan")
        self.inner.reset(rng, task)
        self._plan = list(task.expert_plan())

    def decide(self, instruction: str, scene, history) -> Decision:
        d = self.inner.decide(instruction, scene, history)
        right = right_call(self._plan, history)
        probs = option_probabilities(d.candidates)
        p_right = next((float(p) for c, p in zip(d.candidates, probs) if c.call == right), 0.0)
        self.scores.append(1.0 - p_right)
        self.probs.append(sorted((float(p) for p in probs), reverse=True))
        return replace(
            d,
            chosen=right,
            help={"calibration": True, "right": right.to_text(), "p_right": p_right},
        )


def check_calibration_seeds(seeds: range) -> None:
    """Calibration seeds must be disjoint from the dev seeds and the evaluation seeds."""
    if len(seeds) == 0:
        raise ConfigError("episodes_per_task must be at least 1")
    clash = sorted(set(seeds) & set(DEV_SEEDS))
    if clash:
        raise ConfigError(
            f"calibration seeds {clash} are development seeds "
            f"({DEV_SEEDS.start}-{DEV_SEEDS.stop - 1})"
        )
    if seeds.start < 0 or seeds.stop - 1 >= EVAL_SEED_START:
        raise ConfigError(
            f"calibration seeds {seeds.start}-{seeds.stop - 1} overlap the evaluation seeds (>= "
            f"{EVAL_SEED_START}) or are negative"
        )


def calibrate_command(cfg: DictConfig, run_dir: Path) -> int:
    """Run the calibration episodes, write q_hat's JSON, print a summary as the last line."""
    start = time.perf_counter()
    seeds = range(int(cfg.seed_start), int(cfg.seed_start) + int(cfg.episodes_per_task))
    check_calibration_seeds(seeds)
    epsilon = float(cfg.epsilon)
    if not 0.0 < epsilon < 1.0:
        raise ConfigError(f"epsilon must be in (0, 1), got {epsilon!r}")
    if cfg.get("ask_for_help") is not None:
        raise ConfigError("calibrate the planner itself: leave ask_for_help unset")
    tasks = expand_tasks(cfg.tasks)
    components = build_components(cfg)
    teacher = TeacherForcedPlanner(components.planner)
    components.planner = teacher
    try:
        for task in tasks:
            for seed in seeds:
                where = Path(run_dir) / "episodes" / episode_dir_name(task) / str(seed)
                run_episode(
                    components, task, seed, where, split=str(cfg.split), video=False, frames=False
                )
    finally:
        components.close()
    q_hat = conformal_quantile(teacher.scores, epsilon)
    sizes = [sum(p >= 1.0 - q_hat - 1e-12 and p > 0 for p in probs) for probs in teacher.probs]
    out = Path(cfg.output) if cfg.output else Path(run_dir) / "q_hat.json"
    if not out.is_absolute():
        from hydra.core.hydra_config import HydraConfig

        out = Path(HydraConfig.get().runtime.cwd) / out
    result = {
        "q_hat": q_hat,
        "epsilon": epsilon,
        "target_coverage": 1.0 - epsilon,
        "decisions": len(teacher.scores),
        "episodes": len(tasks) * len(seeds),
        "tasks": tasks,
        "seeds": [seeds.start, seeds.stop - 1],
        "mean_score": round(float(np.mean(teacher.scores)), 4),
        "calibration_coverage": round(float(np.mean([s <= q_hat for s in teacher.scores])), 4),
        "mean_set_size": round(float(np.mean(sizes)), 3),
        "multi_option_rate": round(float(np.mean([s > 1 for s in sizes])), 4),
        "planner": teacher.name,
        "llm": OmegaConf.select(cfg, "llm.model"),
        "feedback": OmegaConf.select(cfg, "prompt.feedback"),
        "file": str(out),
        "wall_s": round(time.perf_counter() - start, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    from saycan.files import write_atomic

    scores = [round(s, 6) for s in teacher.scores]
    write_atomic(out, json.dumps({**result, "scores": scores}, indent=2))
    print(json.dumps(result), flush=True)
    return 0
