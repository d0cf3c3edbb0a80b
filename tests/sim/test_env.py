"""TabletopEnv on real PyBullet: gym API, determinism, bowls that hold blocks, camera geometry."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from saycan.drivers.types import Pose
from saycan.perception.scene import SceneObject
from saycan.sim import ENV_ID, geometry
from saycan.sim.camera import deproject, project
from saycan.sim.env import TabletopEnv
from saycan.sim.layout import sample_placements
from saycan.sim.scene_spec import WORKSPACE_X, WORKSPACE_Y, ObjectSpec
from saycan.skills.primitives import pick_and_place
from saycan.skills.types import SkillCall


@pytest.fixture
def env():
    e = TabletopEnv(camera_width=160, camera_height=120)
    yield e
    e.close()


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_passes(render_mode):
    e = TabletopEnv(
        render_mode=render_mode,
        camera_width=64,
        camera_height=48,
        max_episode_steps=5,
        substeps=4,
        video_width=64,
        video_height=48,
    )
    try:
        check_env(e.unwrapped)
        if render_mode == "rgb_array":
            e.reset(seed=0)
            assert e.render().shape == (48, 64, 3)
    finally:
        e.close()


def test_registered_with_gymnasium():
    import importlib

    import saycan.sim  # noqa: F401  (importing twice must be harmless)

    importlib.reload(saycan.sim)
    e = gym.make(ENV_ID, camera_width=64, camera_height=48)
    try:
        obs, info = e.reset(seed=1)
        assert obs["rgb"].shape == (48, 64, 3)
        assert info["objects"]
    finally:
        e.close()


def _states(env):
    return [(s.name, s.position, s.orientation) for s in env.object_states()]


def _pick_first_block_into_bowl(env) -> None:
    st = env.object_states()
    block = next(s for s in st if s.category == "block")
    bowl = next(s for s in st if s.category == "bowl")
    obj = SceneObject(block.name, block.category, block.colour, block.position, block.size)
    surface = (bowl.position[0], bowl.position[1], bowl.position[2] - 0.02 + 0.005)
    res = pick_and_place(
        env.motion, obj, surface, SkillCall("pick_and_place", (block.name, bowl.name))
    )
    assert res.success, res


def test_same_seed_same_world_bit_for_bit():
    a, b = (
        TabletopEnv(camera_width=32, camera_height=24),
        TabletopEnv(camera_width=32, camera_height=24),
    )
    try:
        a.reset(seed=7)
        a.reset(seed=3)  # history must not matter
        b.reset(seed=3)
        assert _states(a) == _states(b)
        # Reachability queries in between must not change what physics does.
        for x in np.linspace(0.3, 0.9, 7):
            a.motion.is_reachable(Pose((float(x), 0.1, 0.1)))
        _pick_first_block_into_bowl(a)
        _pick_first_block_into_bowl(b)
        assert a.sim_step == b.sim_step
        assert _states(a) == _states(b)
    finally:
        a.close()
        b.close()


def test_different_seeds_give_different_scenes(env):
    scenes = []
    for seed in range(4):
        env.reset(seed=seed)
        scenes.append(tuple((s.name, round(s.position[0], 3)) for s in env.object_states()))
    assert len(set(scenes)) == 4


def test_explicit_objects_and_stacking(env):
    objs = [
        ObjectSpec("red block", "block", "red", (0.45, 0.1)),
        ObjectSpec("green block", "block", "green", on="red block"),
        ObjectSpec("blue bowl", "bowl", "blue", (0.6, -0.1)),
        ObjectSpec("pink block", "block", "pink", on="blue bowl"),
    ]
    env.reset(seed=0, options={"objects": objs})
    st = {s.name: s for s in env.object_states()}
    assert list(st) == [o.name for o in objs]
    assert geometry.is_on(
        st["green block"].position,
        st["green block"].size,
        st["red block"].position,
        st["red block"].size,
    )
    assert geometry.is_in_bowl(st["pink block"].position, st["blue bowl"].position)
    assert st["blue bowl"].size[2] == pytest.approx(geometry.BOWL_HEIGHT)


@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.02, -0.015), (-0.03, 0.0)])
def test_block_dropped_over_bowl_rests_inside(env, offset):
    env.reset(
        seed=0,
        options={
            "objects": [
                ObjectSpec("red block", "block", "red", (0.4, 0.15)),
                ObjectSpec("blue bowl", "bowl", "blue", (0.55, -0.05)),
            ]
        },
    )
    bowl = next(s for s in env.object_states() if s.name == "blue bowl")
    env.teleport_object(
        "red block", (bowl.position[0] + offset[0], bowl.position[1] + offset[1], 0.09)
    )
    env.motion.step(240)
    st = {s.name: s for s in env.object_states()}
    block = st["red block"]
    assert geometry.is_in_bowl(block.position, st["blue bowl"].position)
    floor = st["blue bowl"].position[2] - geometry.BOWL_HEIGHT / 2 + 0.005
    assert block.position[2] == pytest.approx(floor + 0.02, abs=0.003)  # resting on the floor
    assert np.hypot(*(np.subtract(st["blue bowl"].position[:2], bowl.position[:2]))) < 0.01


def test_camera_projects_object_to_where_it_is_seen():
    env = TabletopEnv(camera_width=320, camera_height=240)
    try:
        xy = (0.58, -0.12)
        env.reset(seed=0, options={"objects": [ObjectSpec("red block", "block", "red", xy)]})
        rgb, depth, info = env.camera.render(env.client)
        assert rgb.dtype == np.uint8 and rgb.shape == (240, 320, 3)
        assert depth.dtype == np.float32 and depth.shape == (240, 320)
        assert info.intrinsics.shape == (3, 3) and info.world_from_camera.shape == (4, 4)
        seg = env.camera.segmentation(env.client)
        rows, cols = np.nonzero(seg == env.bodies["red block"])
        assert len(rows) > 20
        top_centre = (xy[0], xy[1], 0.04)
        u, v = project(info, [top_centre])[0]
        assert abs(cols.mean() - u) < 1.5 and abs(rows.mean() - v) < 1.5
        # The block's pixels are red, and its depth is the camera height minus the block.
        r, g, b = rgb[int(round(v)), int(round(u))].astype(int)
        assert r > 150 and g < 80 and b < 80
        cam_z = info.world_from_camera[2, 3]
        assert depth[int(round(v)), int(round(u))] == pytest.approx(cam_z - 0.04, abs=0.004)
        assert np.allclose(deproject(info, depth, (u, v)), top_centre, atol=0.006)
        # The camera looks down: its optical axis (OpenCV z) is world -z.
        assert np.allclose(info.world_from_camera[:3, 2], (0, 0, -1), atol=1e-6)
    finally:
        env.close()


def test_gym_step_moves_end_effector(env):
    env.reset(seed=0)
    target = (0.5, 0.05, 0.15)
    action = env.target_to_action(target, close=False)
    assert env.action_space.contains(action)
    assert np.allclose(env.action_to_target(action), target)
    for _ in range(15):
        obs, reward, terminated, truncated, info = env.step(action)
    assert np.linalg.norm(obs["ee_position"] - target) < 0.01
    assert obs["gripper_width"][0] > 0.07


def test_video_frames_captured_every_n_steps():
    env = TabletopEnv(camera_width=32, camera_height=24, record_video=True, video_every_n_steps=60)
    try:
        env.reset(seed=0)
        n0 = len(env.frames)
        env.motion.step(240)
        assert len(env.frames) == n0 + 4
        assert env.frames[-1].shape == (240, 320, 3) and env.frames[-1].dtype == np.uint8
        env.reset(seed=0, options={"record_video": False})
        assert env.frames == []
    finally:
        env.close()


def test_observation_is_filled(env):
    env.reset(seed=2)
    obs = env.observation()
    assert obs.rgb.shape == (120, 160, 3) and obs.depth.shape == (120, 160)
    assert obs.joint_positions.shape == (7,)
    assert obs.gripper_width == pytest.approx(0.08, abs=0.002)
    assert obs.ground_truth == env.object_states()
    assert obs.step == env.sim_step > 0
    assert obs.ee_position[2] > 0.3  # home is high above the table


def test_sample_placements_respects_distances():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pts = np.array(sample_placements(rng, 5, min_dist=0.12, radii=[0.03] * 3 + [0.073] * 2))
        d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(5)
        assert d.min() >= 0.12
        assert np.linalg.norm(pts[3] - pts[4]) >= 0.166
        assert np.all(pts[:, 0] > WORKSPACE_X[0]) and np.all(pts[:, 0] < WORKSPACE_X[1])
        assert np.all(pts[:, 1] > WORKSPACE_Y[0]) and np.all(pts[:, 1] < WORKSPACE_Y[1])
    a = sample_placements(np.random.default_rng(5), 4, 0.12)
    assert a == sample_placements(np.random.default_rng(5), 4, 0.12)


def test_building_an_env_prints_nothing_to_stdout(capfd):
    """CLI commands end stdout with one JSON line; pybullet's `argv[0]=` (printed when a
    client connects with an options string) must not appear there."""
    env = TabletopEnv()
    env.reset(seed=0)
    env.close()
    assert "argv[0]" not in capfd.readouterr().out
