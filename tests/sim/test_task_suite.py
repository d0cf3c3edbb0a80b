"""The packaged task suite: enough tasks in every family, each with paraphrases, and every
expert plan succeeds under `executor=teleport` (one driver reused across tasks, so it is fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saycan.perception.oracle import OraclePerception
from saycan.sim.tasks import Task, available_tasks, load_task
from saycan.sim.tasks.instance import MilestoneTracker
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE, Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.teleport import TeleportExecutor

#: Families of the richer task language; in the fast suite one task of each runs the expert
#: under teleport (the temporal one runs through the episode runner in test_task_language; the
#: proximity tasks' goals are `in`/`at`, and their binding is checked there), the rest run with
#: the slow suite, to keep the fast suite's time.
LANGUAGE_FAMILIES = {"assignment", "temporal", "line", "relative_place", "proximity"}
FAST_LANGUAGE_TASKS = {
    "blocks_in_different_bowls",
    "blocks_in_horizontal_line",
    "block_left_of_bowl_place",
}
FAMILIES = {
    "single",
    "paraphrase",
    "structured",
    "spatial",
    "embodiment",
    "abstract",
    "long_horizon",
    "infeasible",
} | LANGUAGE_FAMILIES
REPO = Path(__file__).resolve().parents[2]


def teleport_params() -> list:
    return [
        name
        if load_task(name).family not in LANGUAGE_FAMILIES or name in FAST_LANGUAGE_TASKS
        else pytest.param(name, marks=pytest.mark.slow)
        for name in available_tasks()
    ]


def test_suite_size_families_and_paraphrases():
    specs = [load_task(n) for n in available_tasks()]
    assert len(specs) >= 25
    assert {s.family for s in specs} >= FAMILIES
    for s in specs:
        n = len(s.instructions.seen) + len(s.instructions.unseen)
        assert n >= 3 and s.instructions.unseen, f"{s.name}: {n} paraphrases"


@pytest.mark.parametrize("name", available_tasks())
def test_sampling_is_reproducible_and_plans_fit_the_budget(name):
    task = Task(name)
    for seed in range(8):
        a, b = task.sample(np.random.default_rng(seed)), task.sample(np.random.default_rng(seed))
        assert a.objects == b.objects and a.instruction == b.instruction
        assert "{" not in a.instruction
        names = {o.name for o in a.objects}
        plan = a.expert_plan()
        assert plan[-1] == DONE and len(plan) <= a.max_steps
        for call in plan[:-1]:
            assert call.args[0] in names and call.args[0] not in a.unreachable
    unseen = Task(name, split="unseen").sample(np.random.default_rng(0))
    assert unseen.template in load_task(name).instructions.unseen


@pytest.fixture(scope="module")
def teleport_world():
    from saycan.drivers.pybullet_driver import PyBulletDriver

    driver = PyBulletDriver(settle_steps=30)
    driver.connect()
    executor = TeleportExecutor(SkillLibrary([PickAndPlace(), Done()]))
    executor.bind_simulator(driver)
    yield driver, OraclePerception(), executor
    driver.disconnect()


def run_expert(world, name: str, seed: int) -> tuple[bool, list[str], list[str]]:
    driver, perception, executor = world
    inst = Task(name).sample(np.random.default_rng(seed))  # the runner samples; drivers place
    driver.reset_scene(inst.objects, seed=seed)
    env = driver.env
    initial = env.object_states()
    progress = MilestoneTracker(inst, initial)  # states to pass through, checked every step
    if not inst.spec.goal or inst.spec.goal[0].pred != "nothing_moved":  # not met before acting
        assert not inst.success(initial, initial, progress)[0], (
            f"{name} seed {seed}: goal already met"
        )
    failures = []
    for call in inst.expert_plan()[:-1]:
        scene = perception.perceive(env.observation(render=False))
        result = executor.execute(call, driver, scene)
        progress.update(env.object_states())
        if not result.success:
            failures.append(f"{call.to_text()}: {result.message}")
    ok, unmet = inst.success(initial, env.object_states(), progress)
    return ok, unmet, failures


@pytest.mark.parametrize("name", teleport_params())
def test_expert_plan_succeeds_under_teleport(teleport_world, name):
    for seed in (0, 1):
        ok, unmet, failures = run_expert(teleport_world, name, seed)
        assert ok and not failures, f"{name} seed {seed}: unmet {unmet}, failures {failures}"


@pytest.mark.slow
@pytest.mark.parametrize("name", available_tasks())
def test_expert_plan_succeeds_under_teleport_many_seeds(teleport_world, name):
    for seed in range(2, 12):
        ok, unmet, failures = run_expert(teleport_world, name, seed)
        assert ok and not failures, f"{name} seed {seed}: unmet {unmet}, failures {failures}"


def test_example_task_file_validates():
    spec = load_task(REPO / "examples" / "tasks" / "banana_in_bowl.yaml")
    assert spec.name == "banana_in_bowl"


def test_user_task_file_runs_end_to_end(tmp_path: Path):
    task = tmp_path / "my.yaml"
    task.write_text((REPO / "examples" / "tasks" / "banana_in_bowl.yaml").read_text())
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    saycan = Path(sys.executable).with_name("saycan")
    proc = subprocess.run(
        [
            str(saycan),
            "run",
            f"task={task}",
            "planner=oracle",
            "executor=teleport",
            "video=false",
            "frames=false",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["task"] == "banana_in_bowl" and result["success"] is True
