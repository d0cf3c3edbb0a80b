"""`executor=dry_run`: the loop plans and shows every chosen call, and the arm never moves."""

from __future__ import annotations

import json

import numpy as np

from saycan.api import SayCan
from saycan.skills.dry_run import NOT_EXECUTED


def test_dry_run_lists_every_call_and_moves_nothing(tmp_path, capsys):
    # PyBullet Panda; affordance_only: a planner with no language model (the test stays fast)
    overrides = ["executor=dry_run", "scene=random", "max_steps=3", "planner=affordance_only"]
    with SayCan(overrides) as stack:
        sim, driver = stack.components.sim, stack.components.driver
        result = stack.run_episode("put the red block in the blue bowl", seed=7, out_dir=tmp_path)
        end = driver.get_observation()
        # The same scene rebuilt: the arm at home, the step counter where the episode began.
        sim.reset_scene(stack.components.scene.sample(np.random.default_rng(7)), seed=7)
        start = driver.get_observation()
    assert np.array_equal(start.joint_positions, end.joint_positions)
    assert start.step == end.step and start.gripper_width == end.gripper_width

    shown = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("dry run:")]
    trace = [json.loads(ln) for ln in (tmp_path / "trace.jsonl").read_text().splitlines()]
    chosen = [t["chosen"] for t in trace]
    acted = [c for c in chosen if c != "robot.done()"]  # `done` is the loop's, not a motion
    assert chosen == result.plan and len(shown) == len(acted) >= 1
    assert all(call in line for call, line in zip(acted, shown))
    assert any(c.startswith("robot.pick_and_place(") for c in chosen)
    assert all(t["observation_step"] == start.step for t in trace)  # no control step ran
    acts = [t["result"] for t in trace if t["chosen"] != "robot.done()"]
    assert acts and all(r["message"] == NOT_EXECUTED and r["steps"] == 0 for r in acts)
