"""`saycan bench scoring`: the fast scoring path against the one-forward-per-option reference
on the same prompts and options, in one process (speed-ups are ratios measured side by side).

Cases: the default `saycan run` scene (what one decision costs), a SayCan-notebook-sized case
(~53 options) and a large case (>= 300 options). Fails (`"failed": true`, exit 1) if any
option's log-prob deviates from the reference by more than `tolerance` nats.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from saycan.perception.scene import SceneDescription, SceneObject
from saycan.planner.prompts import PromptBuilder
from saycan.sim.scene_spec import LOCATIONS
from saycan.skills.library import Done, PickAndPlace
from saycan.skills.base import SkillLibrary

#: Text-only scenes: colours beyond the simulator's palette are fine, nothing is rendered.
COLOURS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "cyan", "brown",
           "gray", "white", "black", "olive", "navy"]


def _scene(blocks: int, bowls: int) -> SceneDescription:
    objects = [SceneObject(f"{c} block", "block", c, (0.5, 0.0, 0.02)) for c in COLOURS[:blocks]]
    objects += [SceneObject(f"{c} bowl", "bowl", c, (0.5, 0.1, 0.02)) for c in COLOURS[-bowls:]]
    return SceneDescription(tuple(objects), locations=dict(LOCATIONS))


def _timed(fn, repeats: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def bench_scoring(cfg: DictConfig) -> dict[str, Any]:
    fast = instantiate(cfg.llm)
    fast.load()
    reference = fast.with_method("reference")
    prompt_builder: PromptBuilder = instantiate(cfg.prompt)
    skills = SkillLibrary([PickAndPlace(), Done()])
    cases = []
    for case in cfg.cases:
        scene = _scene(int(case.blocks), int(case.bowls))
        first_block = scene.names("block")[1]
        first_bowl = scene.names("bowl")[0]
        prompt = prompt_builder.build(f"put the {first_block} in the {first_bowl}", scene)
        options = [c.to_text() for c in skills.candidates(scene)]

        naive_times, naive = _timed(lambda: reference.score(prompt, options), int(cfg.naive_repeats))
        naive_tokens = reference.stats.tokens_computed

        def cold() -> np.ndarray:
            fast.reset_cache()  # no prompt KV cache from an earlier call
            return fast.score(prompt, options)

        cold_times, cold_scores = _timed(cold, int(cfg.repeats))
        cold_tokens = fast.stats.tokens_computed
        # Warm: the same few-shot prefix was seen in the previous call (as across decisions).
        warm_times, warm_scores = _timed(lambda: fast.score(prompt, options), int(cfg.repeats))
        warm_tokens = fast.stats.tokens_computed
        diff = float(max(np.max(np.abs(cold_scores - naive)), np.max(np.abs(warm_scores - naive))))
        naive_s, fast_s = statistics.median(naive_times), statistics.median(cold_times)
        cases.append({
            "name": str(case.name),
            "options": len(options),
            "prompt_tokens": len(fast._encode_prompt(prompt)),
            "naive_s": round(naive_s, 3),
            "naive_s_all": [round(t, 3) for t in naive_times],
            "fast_s": round(fast_s, 4),
            "fast_s_all": [round(t, 4) for t in cold_times],
            "fast_warm_s": round(statistics.median(warm_times), 4),
            "speedup": round(naive_s / fast_s, 1),
            "speedup_warm": round(naive_s / statistics.median(warm_times), 1),
            "tokens_naive": naive_tokens,
            "tokens_fast": cold_tokens,
            "tokens_fast_warm": warm_tokens,
            "max_abs_diff": diff,
        })
    max_diff = max(c["max_abs_diff"] for c in cases)
    return {
        "benchmark": "scoring",
        "model": fast.name,
        "cases": cases,
        "min_speedup": min(c["speedup"] for c in cases),
        "max_abs_diff": max_diff,
        "tolerance": float(cfg.tolerance),
        "failed": bool(max_diff > float(cfg.tolerance)),
    }
