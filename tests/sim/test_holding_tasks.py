"""Episodes that start with a block already in the gripper: the env grasps it at reset (held
by friction, not welded), perception reports it, the affordance forbids picking anything else,
and the expert plan succeeds under physics (the held block is placed without a new pick)."""

from __future__ import annotations

import numpy as np
import pytest

from saycan.drivers.pybullet_driver import PyBulletDriver
from saycan.perception.oracle import OraclePerception
from saycan.planner.loop import PhysicsExecutor
from saycan.sim.tasks import Task, load_task
from saycan.skills.affordances.analytic import AnalyticAffordance
from saycan.skills.base import SkillLibrary
from saycan.skills.done import Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.teleport import TeleportExecutor
from saycan.skills.types import SkillCall

TASKS = ("holding_block_put_in_bowl", "holding_block_then_other")


@pytest.fixture(scope="module")
def driver():
    d = PyBulletDriver(settle_steps=30)
    d.connect()
    yield d
    d.disconnect()


def test_held_role_validates():
    for name in TASKS:
        spec = load_task(name)
        assert spec.family == "embodiment" and spec.roles["A"].held
        assert len(spec.instructions.seen) >= 3 and spec.instructions.unseen


def test_held_role_schema_errors(tmp_path):
    from saycan.errors import ConfigError

    text = (
        "name: bad\nfamily: x\nscene: {blocks: 2, bowls: 1}\n"
        "roles: {A: {category: block, held: true}, B: {category: block, held: true},"
        " C: {category: bowl}}\n"
        "instructions: {seen: ['put the {A} in the {C}']}\n"
        "goal: [{pred: in, args: [A, C]}]\nmax_steps: 3\n"
    )
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match="hold one block"):
        load_task(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text(
        text.replace("B: {category: block, held: true}", "B: {category: bowl, held: true}")
    )
    with pytest.raises(ConfigError, match="roles.B"):
        load_task(tmp_path / "bad2.yaml")


@pytest.mark.parametrize("name", TASKS)
def test_expert_plan_succeeds_under_physics_from_a_held_block(driver, name):
    perception = OraclePerception()
    executor = PhysicsExecutor(SkillLibrary([PickAndPlace(), Done()]))
    for seed in (0, 1):
        inst, env = Task(name).sample(np.random.default_rng(seed)), driver.env
        driver.reset_scene(inst.objects, seed=seed)
        initial = env.object_states()
        scene = perception.perceive(env.observation(render=False))
        assert inst.held is not None and scene.holding == inst.held, f"{name} seed {seed}"
        assert env.motion.gripper_closed and env.motion.held == env.bodies[inst.held]
        # Held, not welded: no constraint ties the block to the hand.
        c = env.client
        tied = [
            c.getConstraintInfo(c.getConstraintUniqueId(i)) for i in range(c.getNumConstraints())
        ]
        assert not [t for t in tied if env.bodies[inst.held] in (t[0], t[2])]
        rules = AnalyticAffordance(driver.motion)
        other = next(o.name for o in scene.objects if o.category == "block" and o.name != inst.held)
        bowl = next(o.name for o in scene.objects if o.category == "bowl")
        assert (
            rules.why_not(SkillCall("pick_and_place", (other, bowl)), scene)
            == f"the gripper is holding {inst.held}"
        )
        for call in inst.expert_plan()[:-1]:
            scene = perception.perceive(env.observation(render=False))
            result = executor.execute(call, driver, scene)
            assert result.success, f"{name} seed {seed}: {call.to_text()}: {result.message}"
        first = inst.expert_plan()[0]
        assert first.args[0] == inst.held  # the held block is put down first
        ok, unmet = inst.success(initial, env.object_states())
        assert ok, f"{name} seed {seed}: unmet {unmet}"
        assert perception.perceive(env.observation(render=False)).holding is None


def test_teleporting_the_held_block_opens_the_gripper(driver):
    inst, env = Task("holding_block_put_in_bowl").sample(np.random.default_rng(0)), driver.env
    driver.reset_scene(inst.objects, seed=0)
    executor = TeleportExecutor(SkillLibrary([PickAndPlace(), Done()]))
    executor.bind_simulator(driver)
    perception = OraclePerception()
    call = inst.expert_plan()[0]
    assert executor.execute(
        call, driver, perception.perceive(env.observation(render=False))
    ).success
    assert not env.motion.gripper_closed and env.motion.held is None
    assert perception.perceive(env.observation(render=False)).holding is None
    assert inst.success(env.object_states(), env.object_states())[0]
