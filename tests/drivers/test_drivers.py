"""Both shipped drivers meet the `RobotDriver` / `MotionInterface` contracts."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from saycan.drivers.base import MotionInterface, RobotDriver
from saycan.drivers.mock import MockDriver
from saycan.drivers.pybullet_driver import PyBulletDriver
from saycan.drivers.types import MotionStatus, Observation, Pose
from saycan.errors import DriverError
from saycan.perception.scene import SceneObject
from saycan.sim import geometry
from saycan.sim.scene_spec import ObjectSpec
from saycan.skills.primitives import pick_and_place
from saycan.skills.types import FailureReason, SkillCall

SCENE = [
    ObjectSpec("red block", "block", "red", (0.45, 0.12)),
    ObjectSpec("green block", "block", "green", (0.6, 0.1)),
    ObjectSpec("blue bowl", "bowl", "blue", (0.55, -0.12)),
]


@pytest.fixture(params=["pybullet", "mock"])
def driver(request):
    if request.param == "pybullet":
        d = PyBulletDriver(robot="panda", camera_width=64, camera_height=48)
    else:
        d = MockDriver()
    yield d
    d.disconnect()


def test_satisfies_protocols(driver):
    assert isinstance(driver, RobotDriver)
    driver.connect()
    assert isinstance(driver.motion, MotionInterface)
    assert driver.is_physical is False
    assert isinstance(driver.name, str) and driver.name


def test_connect_disconnect_idempotent(driver):
    assert not driver.is_connected
    driver.connect()
    driver.connect()
    assert driver.is_connected
    driver.disconnect()
    driver.disconnect()
    assert not driver.is_connected
    with pytest.raises(DriverError):
        driver.get_observation()
    driver.connect()  # reconnecting works
    assert driver.get_observation().ground_truth


def test_observation_well_formed(driver):
    driver.connect()
    driver.reset_scene(SCENE, seed=4)
    obs = driver.get_observation()
    assert isinstance(obs, Observation)
    h, w = obs.camera.height, obs.camera.width
    assert obs.rgb.shape == (h, w, 3) and obs.rgb.dtype == np.uint8
    assert obs.depth.shape == (h, w) and obs.depth.dtype == np.float32
    assert obs.camera.intrinsics.shape == (3, 3)
    assert obs.camera.world_from_camera.shape == (4, 4)
    assert np.allclose(obs.camera.world_from_camera[3], (0, 0, 0, 1))
    assert obs.joint_positions.ndim == 1 and len(obs.joint_positions) >= 6
    assert len(obs.ee_position) == 3 and obs.ee_position[2] > 0.2
    assert obs.gripper_width > 0.05 and not obs.gripper_holding
    assert [s.name for s in obs.ground_truth] == [o.name for o in SCENE]
    red = obs.ground_truth[0]
    assert red.position == pytest.approx((0.45, 0.12, 0.02), abs=0.002)
    assert red.size == pytest.approx((0.04, 0.04, 0.04))


def test_skill_runs_the_same_on_both(driver):
    driver.connect()
    driver.reset_scene(SCENE, seed=0)
    gt = {s.name: s for s in driver.get_observation().ground_truth}
    red, bowl = gt["red block"], gt["blue bowl"]
    obj = SceneObject(red.name, red.category, red.colour, red.position, red.size)
    surface = (
        bowl.position[0],
        bowl.position[1],
        bowl.position[2] - geometry.BOWL_HEIGHT / 2 + 0.005,
    )
    res = pick_and_place(
        driver.motion, obj, surface, SkillCall("pick_and_place", ("red block", "blue bowl"))
    )
    assert res.success, res
    gt = {s.name: s for s in driver.get_observation().ground_truth}
    assert geometry.is_in_bowl(gt["red block"].position, gt["blue bowl"].position)
    assert driver.get_observation().step >= res.steps > 0
    # Missing object: the gripper closes on nothing.
    ghost = SceneObject("ghost", "block", "gray", (0.4, -0.2, 0.02))
    res = pick_and_place(
        driver.motion, ghost, (0.5, 0.0, 0.0), SkillCall("pick_and_place", ("ghost", "middle"))
    )
    assert res.reason == FailureReason.GRASP_MISSED
    assert driver.motion.move_to_pose(Pose((3.0, 0.0, 0.0))).status == MotionStatus.UNREACHABLE
    assert driver.motion.is_reachable(Pose((0.5, 0.0, 0.1)))


def test_simulators_declare_their_extras_and_know_no_tasks(driver):
    """Both shipped simulators implement `SimulatorExtras`; a scene reset takes objects (the
    runner samples tasks), and the same objects and seed give the same world."""
    import inspect

    from saycan.drivers.base import SimulatorExtras

    assert isinstance(driver, SimulatorExtras)
    assert "task" not in inspect.signature(driver.reset_scene).parameters
    driver.connect()
    driver.reset_scene(SCENE[:2], seed=11)
    a = driver.ground_truth()
    driver.reset_scene(SCENE[:2], seed=11)
    assert driver.ground_truth() == a and [s.name for s in a] == [o.name for o in SCENE[:2]]


def test_mock_driver_does_not_import_pybullet():
    import subprocess

    code = (
        "import sys, saycan.drivers.mock, saycan.skills.primitives; "
        "print('pybullet' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pybullet_driver_wraps_an_existing_env():
    from saycan.sim.env import TabletopEnv

    env = TabletopEnv(camera_width=32, camera_height=24)
    try:
        d = PyBulletDriver(env=env)
        assert d.is_connected and d.motion is env.motion
        d.reset_scene(SCENE, seed=0, record_video=True)
        env.motion.step(48)
        assert len(d.video_frames()) >= 2
        steps = d.teleport_object(env.object_states()[0].name, (0.5, 0.0, 0.05))
        assert steps > 0
        assert env.object_states()[0].position == pytest.approx((0.5, 0.0, 0.02), abs=0.003)
    finally:
        env.close()
