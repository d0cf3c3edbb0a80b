"""The `push(object, direction)` skill: physics (judged by simulator ground truth), affordance,
teleport effect, and `saycan run skills=pick_place_push`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saycan.perception.oracle import OraclePerception
from saycan.sim.env import TabletopEnv
from saycan.sim.scene_spec import ObjectSpec
from saycan.skills.affordances.analytic import AnalyticAffordance
from saycan.skills.base import SkillLibrary
from saycan.skills.done import Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.primitives import push
from saycan.skills.push import DIRECTIONS as PUSH_DIRECTIONS
from saycan.skills.push import Push
from saycan.skills.teleport import TeleportExecutor
from saycan.skills.types import FailureReason, SkillCall

#: Measured (deterministic): every direction moves the block 0.100 m (+-0.3 mm), < 0.1 mm sideways.
TOLERANCE = 0.03
SIDEWAYS = 0.015


@pytest.fixture(scope="module")
def env():
    e = TabletopEnv(camera_width=32, camera_height=24)
    yield e
    e.close()


def _scene(env: TabletopEnv):
    return OraclePerception().perceive(env.observation(render=False))


def _block(env: TabletopEnv, name: str = "red block"):
    return next(s for s in env.object_states() if s.name == name)


@pytest.mark.parametrize(("direction", "xy"), [("left", (0.50, -0.05)), ("forward", (0.42, 0.05))])
def test_push_moves_the_block_by_the_distance(env, direction, xy):
    env.reset(
        seed=0,
        options={
            "objects": [
                ObjectSpec("red block", "block", "red", xy),
                ObjectSpec("blue bowl", "bowl", "blue", (0.40, -0.18)),
            ]
        },
    )
    before = _block(env)
    bowl = _block(env, "blue bowl").position
    scene = _scene(env)
    call = SkillCall("push", ("red block", direction))
    assert AnalyticAffordance(env.motion).value(call, scene) == 1.0
    start = env.sim_step
    res = Push().execute(call, env.motion, scene)
    assert res.success, res.message
    assert res.steps == env.sim_step - start
    assert [p.name for p in res.primitives] == [
        "close",
        "approach",
        "descend",
        "push",
        "release",
        "retreat",
        "home",
    ]
    env.motion.step(120)
    after = _block(env)
    d = np.asarray(PUSH_DIRECTIONS[direction])
    moved = np.subtract(after.position[:2], before.position[:2])
    along, sideways = float(moved @ d), abs(float(moved @ np.array([-d[1], d[0]])))
    assert along == pytest.approx(0.10, abs=TOLERANCE)
    assert sideways < SIDEWAYS
    assert abs(after.position[2] - before.position[2]) < 0.005  # still on the table, upright
    assert np.allclose(_block(env, "blue bowl").position, bowl, atol=0.005)  # bystander untouched
    assert not env.motion.held


def test_contact_during_descent_is_a_collision(env):
    # A second block sits where the fingers come down behind the red one.
    env.reset(
        seed=0,
        options={
            "objects": [
                ObjectSpec("red block", "block", "red", (0.50, 0.0)),
                ObjectSpec("green block", "block", "green", (0.50, -0.05)),
            ]
        },
    )
    red = _block(env)
    res = push(
        env.motion,
        red.position,
        red.size,
        (0.0, 1.0),
        0.10,
        call=SkillCall("push", ("red block", "left")),
    )  # no obstacle list: physical check
    assert not res.success and res.reason == FailureReason.COLLISION
    assert [p.name for p in res.primitives][-1] == "descend"
    # With the obstacle list the primitive refuses before moving.
    green = _block(env, "green block")
    res = push(
        env.motion,
        red.position,
        red.size,
        (0.0, 1.0),
        0.10,
        obstacles=[(green.position, green.size)],
        call=SkillCall("push", ("red block", "left")),
    )
    assert not res.success and res.reason == FailureReason.COLLISION and res.steps == 0


def test_push_out_of_the_workspace_is_refused(env):
    env.reset(seed=0, options={"objects": [ObjectSpec("red block", "block", "red", (0.50, 0.24))]})
    scene = _scene(env)
    affordance = AnalyticAffordance(env.motion)
    out = SkillCall("push", ("red block", "left"))
    assert affordance.value(out, scene) == 0.0
    assert "outside the workspace" in affordance.why_not(out, scene)
    assert affordance.value(SkillCall("push", ("red block", "right")), scene) == 1.0
    executor = TeleportExecutor(SkillLibrary([PickAndPlace(), Push(), Done()]))
    executor.bind_simulator(env)
    before = _block(env).position
    res = executor.execute(out, env, scene)
    assert not res.success and res.reason == FailureReason.INVALID_TARGET
    assert _block(env).position == pytest.approx(before, abs=1e-4)


def test_push_affordance_rules(env):
    env.reset(
        seed=0,
        options={
            "objects": [
                ObjectSpec("red block", "block", "red", (0.50, 0.0)),
                ObjectSpec("blue block", "block", "blue", (0.50, 0.0), on="red block"),
                ObjectSpec("green block", "block", "green", (0.40, -0.15)),
                ObjectSpec("yellow block", "block", "yellow", (0.40, -0.05)),
            ]
        },
    )
    scene = _scene(env)
    rules = AnalyticAffordance(env.motion)
    assert "something is on" in rules.why_not(SkillCall("push", ("red block", "left")), scene)
    assert "does not rest on the table" in rules.why_not(
        SkillCall("push", ("blue block", "left")), scene
    )
    assert "in the way" in rules.why_not(SkillCall("push", ("green block", "left")), scene)
    assert "direction" in rules.why_not(SkillCall("push", ("green block", "up")), scene)
    assert rules.why_not(SkillCall("push", ("green block", "forward")), scene) is None


def test_candidates_and_text():
    from saycan.perception.scene import SceneDescription, SceneObject

    scene = SceneDescription(
        (
            SceneObject("red block", "block", "red", (0.5, 0.0, 0.02)),
            SceneObject("blue bowl", "bowl", "blue", (0.4, 0.1, 0.03)),
        )
    )
    calls = list(Push().candidates(scene))
    assert [c.args[1] for c in calls] == ["left", "right", "forward", "backward"]
    assert calls[0].to_text() == "robot.push(red block, left)"
    assert [c.args for c in Push(directions=["forward"]).candidates(scene)] == [
        ("red block", "forward")
    ]


def test_teleport_push_moves_the_block_exactly(env):
    env.reset(seed=0, options={"objects": [ObjectSpec("red block", "block", "red", (0.50, 0.0))]})
    executor = TeleportExecutor(SkillLibrary([PickAndPlace(), Push(distance=0.08), Done()]))
    executor.bind_simulator(env)
    before = _block(env).position
    res = executor.execute(SkillCall("push", ("red block", "backward")), env, _scene(env))
    assert res.success, res.message
    after = _block(env).position
    assert after[0] == pytest.approx(before[0] - 0.08, abs=1e-3)
    assert after[1] == pytest.approx(before[1], abs=1e-3)
    assert after[2] == pytest.approx(before[2], abs=2e-3)


def test_saycan_run_with_push_skills(tmp_path: Path):
    src = Path(__file__).resolve().parents[2] / "src"
    env = dict(os.environ, PYTHONPATH=str(src))
    saycan = Path(sys.executable).with_name("saycan")
    proc = subprocess.run(
        [
            str(saycan),
            "run",
            "skills=pick_place_push",
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
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["success"] is True
