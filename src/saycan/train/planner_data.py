"""Expert decisions from the task suite: the planner adapter's training data.

Each episode (one task, one training seed) samples a `seen` instruction template over a scene
without the held-out colours (`colour_split.seen_colours`), runs the task's expert plan through
the configured executor (teleport by default: the decisions, not the motions, are the data) and
records every decision as the planner saw it: the perceived scene, the instruction, the calls
so far (with their success), the expert's call and the candidate calls. Prompts are rendered at
training time, so one data set serves any prompt format. Only episodes the expert solved are
kept: a failed expert step would teach a wrong continuation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from saycan.errors import ConfigError
from saycan.planner.loop import run_loop
from saycan.seeds import check_training_seeds
from saycan.sim.tasks import Task, load_task
from saycan.sim.tasks.colour_split import seen_colours
from saycan.sim.tasks.instance import MilestoneTracker
from saycan.skills.done import DONE
from saycan.train.affordance_data import scene_to_json


def episode_decisions(components: Any, task_name: str, seed: int) -> dict[str, Any]:
    """One expert episode of `task_name` (seen templates, seen colours) as a data record."""
    spec = seen_colours(load_task(task_name))
    from saycan.runtime.episode import after_skill_hook, begin_episode

    driver = components.driver
    instance, initial = begin_episode(components, Task(spec, split="seen"), seed)
    progress = MilestoneTracker(instance, initial)  # states to pass through, checked every step
    # the loop exactly as evaluation wires it: with `disturbance=knock_placed
    # prompt.feedback=success` the data holds the expert recovering from disturbances
    outcome = run_loop(
        instance.instruction,
        driver,
        components.perception,
        components.planner,
        components.executor,
        instance.max_steps,
        success_detector=components.success_detector,
        after_skill=after_skill_hook(components),
        feedback=components.feedback,
        on_step=lambda step, obs: progress.update(components.sim.ground_truth()),
    )
    success, unmet = instance.success(initial, components.sim.ground_truth(), progress)
    steps = outcome.steps
    executed = [
        {
            "call": s.decision.chosen.to_text(),
            # what the planner's prompt will say (`# Success: ...`): the success detector's
            # verdict where one ran (a knocked-off block is a failure), else the skill's result
            "success": bool(s.detected_success)
            if s.detected_success is not None
            else bool(s.result is not None and s.result.success),
            # what perception reported after the step: the next decision's scene
            "scene_after": scene_to_json(steps[i + 1].scene) if i + 1 < len(steps) else None,
        }
        for i, s in enumerate(steps)
        if s.decision.chosen != DONE
    ]
    decisions = [
        {
            "scene": scene_to_json(s.scene),
            "history": executed[:i],  # every step before a decision was a skill, not `done`
            "target": s.decision.chosen.to_text(),
            "candidates": [c.call.to_text() for c in s.decision.candidates],
        }
        for i, s in enumerate(steps)
    ]
    return {
        "task": instance.name,
        "family": instance.family,
        "seed": int(seed),
        "instruction": instance.instruction,
        "template": instance.template,
        "success": bool(success),
        "unmet": list(unmet),
        "decisions": decisions,
    }


def generate(cfg: DictConfig, pairs: Sequence[tuple[str, int]]) -> Iterator[dict[str, Any]]:
    """Expert episodes for every (task, seed), built from `cfg` (its planner must be the
    oracle). Errors are records too (`error`), so one broken scene never stops a data run."""
    from saycan.runtime.components import build_components

    check_training_seeds([s for _, s in pairs])
    if "oracle" not in str(cfg.planner.get("_target_", "")).lower():
        raise ConfigError(
            "planner data comes from the expert: the data config needs planner=oracle"
        )
    components = build_components(cfg)
    try:
        for task_name, seed in pairs:
            try:
                yield episode_decisions(components, task_name, int(seed))
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                yield {
                    "task": task_name,
                    "seed": int(seed),
                    "error": f"{type(exc).__name__}: {exc}",
                }
    finally:
        components.close()


def load_or_generate(
    path: Path, cfg: DictConfig, tasks: Sequence[str], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Episodes of (tasks x seeds): read from the JSONL cache at `path` where present, the rest
    generated and appended one by one (an interrupted run resumes where it stopped)."""
    path = Path(path)
    have: dict[tuple[str, int], dict[str, Any]] = {}
    if path.exists():
        with path.open() as fh:
            for line in fh:
                if line.strip():
                    try:
                        r = json.loads(line)
                    except json.JSONDecodeError:  # a line cut by a kill
                        continue
                    have[(r["task"], int(r["seed"]))] = r
    missing = [(t, int(s)) for t in tasks for s in seeds if (t, int(s)) not in have]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            for r in generate(cfg, missing):
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                have[(r["task"], int(r["seed"]))] = r
    return [have[(t, int(s))] for t in tasks for s in seeds]
