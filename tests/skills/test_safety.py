"""The safety gate stops unsafe commands and skills before any motor command is sent."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_module

from saycan.drivers.mock import MockDriver
from saycan.drivers.types import MotionStatus, Pose
from saycan.errors import ConfigError
from saycan.perception.scene import SceneObject
from saycan.planner.loop import PhysicsExecutor
from saycan.sim.scene_spec import ObjectSpec
from saycan.skills.base import SkillLibrary
from saycan.skills.done import Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.primitives import pick_and_place
from saycan.skills.safety import SafetyGate, assert_parallel_ok
from saycan.skills.types import FailureReason, SkillCall

SCENE = [
    ObjectSpec("red block", "block", "red", (0.45, 0.12)),
    ObjectSpec("blue bowl", "bowl", "blue", (0.55, -0.12)),
]
CALL = SkillCall("pick_and_place", ("red block", "blue bowl"))


@pytest.fixture
def rig():
    """(gate, safe driver, executor, scene) over a kinematic mock robot."""
    from saycan.perception.oracle import OraclePerception

    gate = SafetyGate(max_skills=2)
    driver = gate.wrap_driver(MockDriver(SCENE))
    driver.connect()
    executor = gate.wrap_executor(PhysicsExecutor(SkillLibrary([PickAndPlace(), Done()])))
    scene = OraclePerception().perceive(driver.get_observation())
    return gate, driver, executor, scene


def _nothing_sent(driver) -> bool:
    return driver.motion.commands_sent == 0 and driver.get_observation().step == 0


def test_pose_outside_workspace_is_refused(rig):
    gate, driver, _, _ = rig
    res = driver.motion.move_to_pose(Pose((0.5, 0.7, 0.2)))
    assert res.status == MotionStatus.REFUSED and "outside the workspace" in res.message
    assert not driver.motion.is_reachable(Pose((0.5, 0.7, 0.2)))
    far = SceneObject("far block", "block", "red", (0.95, 0.0, 0.02))
    result = pick_and_place(
        driver.motion, far, (0.5, 0.0, 0.0), SkillCall("pick_and_place", ("far block", "middle"))
    )
    assert result.reason == FailureReason.REFUSED and "outside the workspace" in result.message
    assert _nothing_sent(driver) and gate.log


def test_pose_below_table_is_refused(rig):
    _, driver, _, _ = rig
    res = driver.motion.move_to_pose(Pose((0.5, 0.0, -0.05)))
    assert res.status == MotionStatus.REFUSED and "below the table" in res.message
    # A guarded descent may aim a little into the table (it stops on contact), not more.
    assert driver.motion.check_pose(Pose((0.5, 0.0, -0.005)), guarded=True) is None
    assert "below the table" in driver.motion.check_pose(Pose((0.5, 0.0, -0.05)), guarded=True)
    sunk = SceneObject("red block", "block", "red", (0.45, 0.12, -0.10))
    result = pick_and_place(driver.motion, sunk, (0.5, 0.0, 0.0), CALL)
    assert result.reason == FailureReason.REFUSED and "below the table" in result.message
    assert _nothing_sent(driver)


def test_skill_budget(rig):
    gate, driver, executor, scene = rig
    gate.max_skills = 0
    res = executor.execute(CALL, driver, scene)
    assert res.reason == FailureReason.REFUSED and "skill budget exhausted" in res.message
    assert _nothing_sent(driver)
    gate.max_skills = 1
    assert executor.execute(CALL, driver, scene).success
    steps = driver.get_observation().step
    res = executor.execute(SkillCall("pick_and_place", ("red block", "middle")), driver, scene)
    assert res.reason == FailureReason.REFUSED and driver.get_observation().step == steps
    gate.reset()  # a new episode
    assert gate.check_skill(CALL) is None


def test_emergency_stop_any_layer(rig):
    gate, driver, executor, scene = rig
    driver.safety.emergency_stop("operator pressed the button")  # e.g. from the driver layer
    res = executor.execute(CALL, driver, scene)
    assert res.reason == FailureReason.REFUSED and "operator pressed the button" in res.message
    assert executor.halted
    assert driver.motion.set_gripper(True).status == MotionStatus.REFUSED
    assert driver.motion.home().status == MotionStatus.REFUSED
    assert _nothing_sent(driver)
    gate.estop.reset()
    assert executor.execute(CALL, driver, scene).success


def test_emergency_stop_mid_skill_stops_the_next_command(rig):
    gate, driver, executor, scene = rig
    inner = driver.inner.motion
    original = inner.set_gripper

    def close_then_stop(closed, **kw):
        res = original(closed, **kw)
        if closed:
            gate.emergency_stop("gripper fault")
        return res

    inner.set_gripper = close_then_stop
    res = executor.execute(CALL, driver, scene)
    assert not res.success and res.reason == FailureReason.REFUSED
    assert "gripper fault" in res.message
    assert res.primitives[-1].status in ("refused",) or "lift" in [p.name for p in res.primitives]


@pytest.mark.parametrize(("answer", "runs"), [(False, False), (True, True)])
def test_confirm_asks_a_human(rig, answer, runs):
    gate, driver, executor, scene = rig
    asked = []
    gate.confirm = True
    gate.confirm_fn = lambda call: asked.append(call) or answer
    res = executor.execute(CALL, driver, scene)
    assert asked == [CALL]
    assert res.success is runs
    if not runs:
        assert res.reason == FailureReason.REFUSED and "operator declined" in res.message
        assert _nothing_sent(driver)


def test_confirm_on_the_terminal(monkeypatch):
    gate = SafetyGate(confirm=True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert gate.check_skill(CALL).reason == FailureReason.REFUSED
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert gate.check_skill(CALL) is None


def test_joint_and_speed_limits():
    from saycan.drivers.pybullet_driver import PyBulletDriver

    tight = SafetyGate(limits={"joint_limits": [[-0.1, 0.1]] * 7})
    d = tight.wrap_driver(PyBulletDriver(robot="panda", camera_width=32, camera_height=24))
    try:
        d.connect()
        res = d.motion.move_to_pose(Pose((0.5, 0.2, 0.1)))
        assert res.status == MotionStatus.REFUSED and "outside [" in res.message
        slow = SafetyGate(limits={"max_speed": 0.1})
        m = slow.wrap_driver(d.inner).motion
        res = m.move_to_pose(Pose((0.5, 0.0, 0.2)))
        assert res.status == MotionStatus.REFUSED and "above the limit" in res.message
        assert m.commands_sent == 0 and tight.wrap_driver(d.inner).motion.commands_sent == 0
    finally:
        d.disconnect()


def test_limits_config_is_validated():
    with pytest.raises(ConfigError, match="unknown safety.limits keys"):
        SafetyGate(limits={"work_space": 1})


def test_physical_drivers_refuse_parallel_launchers():
    class Arm(MockDriver):
        is_physical = True

    assert_parallel_ok(MockDriver(), "joblib")
    assert_parallel_ok(Arm(), "basic")
    assert_parallel_ok(Arm(), None)
    with pytest.raises(ConfigError, match="physical robot"):
        assert_parallel_ok(Arm(), "joblib")
    with pytest.raises(ConfigError, match="physical robot"):
        assert_parallel_ok(
            {"_target_": "saycan.drivers.mock.MockDriver", "is_physical": True}, "ray"
        )
    assert_parallel_ok(
        {"_target_": "saycan.drivers.pybullet_driver.PyBulletDriver"}, "submitit_slurm"
    )


def _episode(tmp_path, *overrides, before=None):
    from saycan.runtime.components import Components
    from saycan.runtime.episode import run_episode

    with initialize_config_module("saycan.configs", version_base=None):
        cfg = compose("config", overrides=["robot=mock", "planner=oracle", *overrides])
    comps = Components(cfg)
    if before is not None:
        before(comps)
    try:
        result = run_episode(comps, cfg.task, 0, tmp_path, video=False, frames=False)
    finally:
        comps.close()
    trace = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    return result, trace


def test_refusals_reach_the_episode_trace(tmp_path):
    result, trace = _episode(tmp_path, "safety.max_skills=0")
    assert not result.success and result.extras["sim_steps"] == 0
    assert result.skill_failures == [f"{result.plan[0]}: refused"]
    text = json.dumps(trace[0])
    assert "refused" in text and "skill budget exhausted" in text


def test_emergency_stop_ends_the_episode(tmp_path):
    result, trace = _episode(tmp_path, before=lambda c: c.safety.emergency_stop("test stop"))
    assert result.stopped_by == "emergency_stop" and result.steps == 1
    assert result.extras["sim_steps"] == 0
    assert "emergency stop: test stop" in json.dumps(trace[0])


def test_confirm_no_skips_every_skill(tmp_path):
    answers = []

    def no(call):
        answers.append(call)
        return False

    def install(c):
        c.safety.confirm_fn = no

    result, trace = _episode(tmp_path, "safety.confirm=true", before=install)
    assert answers and not result.success and result.extras["sim_steps"] == 0
    assert "operator declined" in json.dumps(trace[0])
