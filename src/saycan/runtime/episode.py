"""Run one episode: with a task, sample its instance, have the simulator place its objects,
run the closed loop and judge the goal from ground truth; without a task, run the loop on what
the robot perceives (a sampled scene in simulation, the real table on an arm) and record the
planner's `done`, the success detector's verdicts and, when configured, the operator's yes/no.
Either way the trace and `episode.json` are written, also when the robot disconnects."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saycan.errors import ConfigError
from saycan.files import write_atomic
from saycan.planner.loop import LoopOutcome, StepRecord, loop_steps
from saycan.planner.prompts import clean_instruction
from saycan.planner.stepping import Steps, driven
from saycan.runtime.closed_loop import closed_loop_stats
from saycan.runtime.components import Components, component_names
from saycan.runtime.costs import decision_costs
from saycan.runtime.interrupts import Interrupted, held
from saycan.runtime.mentions import instruction_mismatch
from saycan.runtime.trace import TraceWriter, write_video
from saycan.seeds import assert_not_training_seed, built_from
from saycan.sim.tasks import Task, TaskInstance
from saycan.sim.tasks.instance import MilestoneTracker
from saycan.skills.types import SkillCall, SkillResult

#: Step budget of an episode without a task (a task brings its own).
DEFAULT_MAX_STEPS = 10


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
    components: Components,
    task: Task | None,
    seed: int,
    record_video: bool = False,
    frames: bool = False,
) -> tuple[TaskInstance | None, Any]:
    """Reset every component for one episode at `seed`; returns the sampled task instance and
    the objects' initial ground-truth states (both None without a task). With a simulator the
    runner samples the scene (the task's, else the `scene` group's) and hands the simulator
    the objects to place; with neither, the simulated world stays as it stands (a scene the
    caller arranged). Shared by evaluation, `saycan run`, the Python API and expert data.
    A simulator renders its camera only if perception reads images or `frames` are saved."""
    if components.safety is not None:
        components.safety.reset()  # a fresh per-episode skill budget
    sim = components.sim
    instance = initial_states = None
    if components.driver is None:
        raise ConfigError("an episode needs a robot: pass a driver or configure robot=...")
    if task is not None and sim is None:
        raise ConfigError(
            f"task={task.name} needs a simulator driver (scene reset, ground truth); with a "
            "real robot, give instruction=... and no task"
        )
    if sim is not None:
        sim.set_render_images(
            frames or components.perception.needs_images or components.viewer.needs_images
        )
        rng = np.random.default_rng(seed)  # the generator the simulator is seeded with
        objects = None
        if task is not None:
            instance = task.sample(rng)
            objects = instance.objects
        elif components.scene is not None:
            objects = components.scene.sample(rng)
        if objects is not None:
            sim.reset_scene(objects, seed=seed, record_video=record_video)
        if instance is not None:
            initial_states = sim.ground_truth()
    # Per-episode randomness (tie-breaking, perception noise) derives from the seed alone.
    components.planner.reset(np.random.default_rng(seed), instance)
    components.perception.reset(np.random.default_rng([seed, 1]))
    return instance, initial_states


def episode_steps(
    components: Components,
    task_name: str | None,
    seed: int,
    out_dir: Path,
    *,
    split: str = "seen",
    instruction: str | None = None,
    max_steps: int | None = None,
    video: bool = True,
    frames: bool = True,
    on_step=None,
) -> Steps[EpisodeResult]:
    """One episode of `task_name` (None: no task, `instruction` on what the robot perceives).
    Yields its decisions' scoring requests, so that a lockstep sweep (`saycan.eval.lockstep`)
    can batch them with other episodes'; `run_episode` scores them itself."""
    start = time.perf_counter()
    step_count = isinstance(max_steps, int) and not isinstance(max_steps, bool)
    if max_steps is not None and not (step_count and max_steps >= 1):  # 0 is not "default"
        raise ConfigError(f"max_steps must be null or an integer >= 1, got {max_steps!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if instruction is not None:
        instruction = clean_instruction(instruction)
    if task_name is None and instruction is None:
        raise ConfigError('an episode without a task needs instruction="..."')
    for what, seeds in built_from(components.planner).items():
        assert_not_training_seed(seed, seeds, what)  # never evaluate on what a part was built from
    task = Task(task_name, split=split, instruction=instruction) if task_name is not None else None
    sim = components.sim
    instance, initial_states = begin_episode(
        components, task, seed, record_video=video, frames=frames
    )
    text = clean_instruction(instance.instruction if instance is not None else instruction)
    viewer = components.viewer
    viewer.begin(out_dir, text)

    trace = TraceWriter(out_dir / "trace.jsonl", out_dir / "frames" if frames else None)
    done_steps: list[StepRecord] = []  # what an interrupted episode still records
    # States the task must pass through are checked on the world after every step.
    progress = (
        MilestoneTracker(instance, initial_states)
        if instance is not None and instance.spec.milestones is not None
        else None
    )

    def record(step: StepRecord, obs) -> None:
        extra = None
        if progress is not None:
            new = progress.update(sim.ground_truth())
            extra = {"milestones": {**progress.to_dict(), "new": new}}
        with held():  # the trace line, the episode's list and the live view: all or none
            trace.write(step, obs.rgb, extra=extra)
            done_steps.append(step)
            viewer.step(step, obs)
        if on_step is not None:
            on_step(step)

    try:
        outcome: LoopOutcome = yield from loop_steps(
            text,
            components.driver,
            components.perception,
            components.planner,
            components.executor,
            max_steps
            if max_steps is not None
            else (instance.max_steps if instance is not None else DEFAULT_MAX_STEPS),
            on_step=record,
            success_detector=components.success_detector,
            after_skill=after_skill_hook(components),
            feedback=components.feedback,
        )
    except Interrupted as exc:  # SIGINT/SIGTERM: stop, write what there is, then let it go on
        stop, outcome = exc, LoopOutcome(steps=done_steps, stopped_by="interrupted")
        if components.safety is not None:
            components.safety.emergency_stop(f"interrupted by {exc.signame}")
    else:
        stop = None
    finally:
        trace.close()
    plan = [c.to_text() for c in outcome.plan]
    if instance is not None:
        success, unmet = instance.success(initial_states, sim.ground_truth(), progress)
        try:
            expert = instance.expert_plan(components.skills)
        except ConfigError:  # the library cannot make some move: record the default expert's plan
            expert = instance.expert_plan()
        extras = {
            **({"milestones": progress.to_dict()} if progress is not None else {}),
            "expert_plan": [c.to_text() for c in expert],
            **closed_loop_stats(outcome, expert, components.feedback),
            # An instruction naming objects the scene lacks, or not the goal's: said, not silent.
            **instruction_mismatch(instance, text, overridden=instruction is not None),
        }
    else:
        success, unmet, extras = _judge_without_task(components, outcome, text)
    video_path = None
    if video and sim is not None:
        frames_list = sim.video_frames()
        if frames_list:
            video_path = str(write_video(out_dir / "video.mp4", frames_list))
    last = outcome.steps[-1].observation_step if outcome.steps else 0
    result = EpisodeResult(
        task=instance.name if instance is not None else "none",
        family=instance.family if instance is not None else "none",
        split=instance.split if instance is not None else "none",
        seed=seed,
        instruction=text,
        success=bool(success),
        steps=len(outcome.steps),
        stopped_by=outcome.stopped_by,
        plan=plan,
        unmet=unmet,
        skill_failures=[
            f"{s.result.call.to_text()}: {s.result.reason.value}"
            for s in outcome.steps
            if s.result is not None and not s.result.success and s.result.reason is not None
        ],
        trace=str(out_dir / "trace.jsonl"),
        video=video_path,
        wall_s=round(time.perf_counter() - start, 3),
        planner=components.planner.name,
        extras={
            **extras,
            "sim_steps": last,
            **({"error": outcome.error} if outcome.error else {}),
            # Which components ran and what the decisions cost: the report groups and
            # dedupes records by these and shows tokens and seconds per decision.
            **component_names(components),
            **decision_costs(
                {"seconds": s.decision.seconds, "llm_stats": s.decision.llm_stats}
                for s in outcome.steps
            ),
        },
    )
    write_atomic(out_dir / "episode.json", json.dumps(result.to_dict(), indent=2))
    viewer.end(result)
    if stop is not None:
        saved = "trace, episode.json" + (" and video" if video_path else "")
        stop.note = f"episode stopped after {len(done_steps)} step(s); {saved} in {out_dir}"
        raise stop
    return result


#: One episode on its own, each scoring request answered as it comes.
run_episode = driven(episode_steps)


def _judge_without_task(
    components: Components, outcome: LoopOutcome, instruction: str
) -> tuple[bool, list[str], dict[str, Any]]:
    """No goal to check: the planner's `done` (after no step the success detector judged a
    failure, unless a later step retried it) and, when configured, the operator's yes/no.
    Nothing here reads ground truth."""
    done = outcome.stopped_by == "done"
    judged = [s.detected_success for s in outcome.steps if s.detected_success is not None]
    extras: dict[str, Any] = {
        "planner_done": done,
        "detected_successes": sum(1 for v in judged if v),
        "detected_failures": sum(1 for v in judged if not v),
        "last_step_detected": judged[-1] if judged else None,
        "outcome_by": "planner",
        "feedback": components.feedback,
    }
    success = done and (not judged or bool(judged[-1]))
    unmet = [] if success else [f"stopped by {outcome.stopped_by}"]
    if components.outcome_judge is not None and outcome.stopped_by not in (
        "disconnected",
        "interrupted",
    ):
        verdict = components.outcome_judge.judge_outcome(instruction)
        extras.update(operator_verdict=verdict, outcome_by="operator")
        success = bool(verdict)
        unmet = [] if success else ["the operator said the instruction was not carried out"]
    return success, unmet, extras


def after_skill_hook(components: Components):
    """The driver's disturbance hook, when a disturbance other than `none` is configured."""
    disturbance = components.disturbance
    if disturbance is None or disturbance.name == "none" or components.sim is None:
        return None
    sim, skills = components.sim, components.skills

    def after_skill(call: SkillCall, result: SkillResult) -> list[dict]:
        # The skill says what it carried; the simulator only ever sees that object's name.
        return sim.disturb(skills.carried(call) if result.success else None)

    return after_skill
