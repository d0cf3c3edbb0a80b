"""Run one episode: reset the robot on a sampled task instance, run the closed loop, judge
success, write the trace and the video."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saycan.errors import ConfigError
from saycan.planner.loop import LoopOutcome, StepRecord, run_loop
from saycan.planner.prompts import clean_instruction
from saycan.seeds import assert_not_training_seed, built_from
from saycan.sim.tasks import Task
from saycan.runtime.closed_loop import closed_loop_stats
from saycan.runtime.components import Components, component_names
from saycan.runtime.costs import decision_costs
from saycan.runtime.interrupts import Interrupted, held
from saycan.runtime.trace import TraceWriter, write_video
from saycan.files import write_atomic


@dataclass
class EpisodeResult:
    task: str
    family: str
    split: str
    seed: int
    instruction: str
    success: bool
    steps: int
    stopped_by: str
    plan: list[str]
    unmet: list[str]
    skill_failures: list[str]
    trace: str
    video: str | None
    wall_s: float
    planner: str
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        extras = d.pop("extras")
        return {**d, **extras}


def begin_episode(
    components: Components, task: Task, seed: int, record_video: bool = False, frames: bool = False
) -> tuple[Any, Any]:
    """Reset every component for one episode of `task` at `seed`; returns the sampled task
    instance and the objects' initial ground-truth states (for judging success). Shared by
    evaluation and by the planner's expert-data generation, so both start episodes alike.
    A simulator renders its camera only if perception reads images or `frames` are saved."""
    if getattr(components, "safety", None) is not None:
        components.safety.reset()  # a fresh per-episode skill budget
    if hasattr(components.driver, "set_render_images"):
        needs_images = bool(getattr(components.perception, "needs_images", True))
        components.driver.set_render_images(frames or needs_images)
    info = components.driver.reset(seed=seed, task=task, record_video=record_video)
    instance = info["task_instance"]
    initial_states = components.driver.get_observation().ground_truth
    # Per-episode randomness (tie-breaking, perception noise) derives from the seed alone.
    components.planner.reset(np.random.default_rng(seed), instance)
    if hasattr(components.perception, "reset"):
        components.perception.reset(np.random.default_rng([seed, 1]))
    return instance, initial_states


def run_episode(
    components: Components,
    task_name: str,
    seed: int,
    out_dir: Path,
    *,
    split: str = "seen",
    instruction: str | None = None,
    max_steps: int | None = None,
    video: bool = True,
    frames: bool = True,
    on_step=None,
) -> EpisodeResult:
    start = time.perf_counter()
    step_count = isinstance(max_steps, int) and not isinstance(max_steps, bool)
    if max_steps is not None and not (step_count and max_steps >= 1):  # 0 is not "default"
        raise ConfigError(f"max_steps must be null or an integer >= 1, got {max_steps!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if instruction is not None:
        instruction = clean_instruction(instruction)
    for what, seeds in built_from(components.planner).items():
        assert_not_training_seed(seed, seeds, what)  # never evaluate on what a part was built from
    task = Task(task_name, split=split, instruction=instruction)
    driver = components.driver
    instance, initial_states = begin_episode(components, task, seed, record_video=video, frames=frames)
    text = clean_instruction(instance.instruction)

    trace = TraceWriter(out_dir / "trace.jsonl", out_dir / "frames" if frames else None)
    done_steps: list[StepRecord] = []  # what an interrupted episode still records

    def record(step: StepRecord, obs) -> None:
        with held():  # the trace line and the episode's list: both or neither
            trace.write(step, obs.rgb)
            done_steps.append(step)
        if on_step is not None:
            on_step(step)

    try:
        outcome: LoopOutcome = run_loop(
            text,
            driver,
            components.perception,
            components.planner,
            components.executor,
            instance.max_steps if max_steps is None else max_steps,
            on_step=record,
            success_detector=getattr(components, "success_detector", None),
            after_skill=after_skill_hook(components),
            feedback=getattr(components, "feedback", "none"),
        )
    except Interrupted as exc:  # SIGINT/SIGTERM: stop, write what there is, then let it go on
        stop, outcome = exc, LoopOutcome(steps=done_steps, stopped_by="interrupted")
        if getattr(components, "safety", None) is not None:
            components.safety.emergency_stop(f"interrupted by {exc.signame}")
    else:
        stop = None
    finally:
        trace.close()
    final_states = driver.get_observation().ground_truth
    success, unmet = instance.success(initial_states, final_states)
    video_path = None
    if video:
        frames_list = driver.video_frames()
        if frames_list:
            video_path = str(write_video(out_dir / "video.mp4", frames_list))
    result = EpisodeResult(
        task=instance.name,
        family=instance.family,
        split=instance.split,
        seed=seed,
        instruction=text,
        success=bool(success),
        steps=len(outcome.steps),
        stopped_by=outcome.stopped_by,
        plan=[c.to_text() for c in outcome.plan],
        unmet=unmet,
        skill_failures=[
            f"{s.result.call.to_text()}: {s.result.reason.value}"
            for s in outcome.steps
            if s.result is not None and not s.result.success and s.result.reason is not None
        ],
        trace=str(out_dir / "trace.jsonl"),
        video=video_path,
        wall_s=round(time.perf_counter() - start, 3),
        planner=getattr(components.planner, "name", type(components.planner).__name__),
        extras={
            "expert_plan": [c.to_text() for c in instance.expert_plan()],
            "sim_steps": driver.get_observation().step,
            # Which components ran and what the decisions cost: the report groups and
            # dedupes records by these and shows tokens and seconds per decision.
            **component_names(components),
            **closed_loop_stats(outcome, instance.expert_plan(), getattr(components, "feedback", "none")),
            **decision_costs(
                {"seconds": s.decision.seconds, "llm_stats": s.decision.llm_stats}
                for s in outcome.steps
            ),
        },
    )
    write_atomic(out_dir / "episode.json", json.dumps(result.to_dict(), indent=2))
    if stop is not None:
        saved = "trace, episode.json" + (" and video" if video_path else "")
        stop.note = f"episode stopped after {len(done_steps)} step(s); {saved} in {out_dir}"
        raise stop
    return result


def after_skill_hook(components: Components):
    """The driver's disturbance hook, when a disturbance other than `none` is configured."""
    disturbance = getattr(components, "disturbance", None)
    if disturbance is None or disturbance.name == "none":
        return None
    return components.driver.disturb

