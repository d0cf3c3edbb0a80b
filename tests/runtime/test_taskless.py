"""Episodes without a task: an instruction about whatever is on the table, judged from what the
robot perceives. Proved with a driver that has no simulator extras at all (`BareArm`), and on
a simulator with a sampled scene (`saycan run instruction=... scene=random`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saycan.api import SayCan
from saycan.drivers.base import RobotDriver, SimulatorExtras
from saycan.sim.geometry import BOWL_INNER_RADIUS

from .bare_arm import TABLE, BareArm

HERE = Path(__file__).resolve().parent


def test_a_driver_without_simulator_extras_runs_a_whole_episode(tmp_path):
    arm = BareArm(TABLE)
    assert isinstance(arm, RobotDriver) and not isinstance(arm, SimulatorExtras)
    try:
        with SayCan(["perception=segmenter"], arm) as stack:
            result = stack.run_episode("put the red block in the blue bowl", out_dir=tmp_path)
        assert result.task == "none" and result.extras["outcome_by"] == "planner"
        assert result.plan == ["robot.pick_and_place(red block, blue bowl)", "robot.done()"]
        assert result.stopped_by == "done" and result.success
        assert result.extras["detected_successes"] == 1  # judged from the segmenter's scene
        # The table itself (which the stack never saw) agrees with the perceived verdict.
        world = arm.world()
        red, bowl = world["red block"], world["blue bowl"]
        off = np.linalg.norm(np.subtract(red.position[:2], bowl.position[:2]))
        assert off < BOWL_INNER_RADIUS and red.position[2] < 0.06
        record = json.loads((tmp_path / "episode.json").read_text())
        assert record["success"] and record["task"] == "none"
        assert len((tmp_path / "trace.jsonl").read_text().splitlines()) == 2
    finally:
        arm.close_world()


def test_a_lost_link_ends_the_episode_disconnected_with_its_files(tmp_path):
    arm = BareArm(TABLE, lose_link_after=2)  # initial look, one step, then silence
    try:
        with SayCan(["perception=segmenter", "planner=random"], arm) as stack:
            result = stack.run_episode("put the red block in the blue bowl", out_dir=tmp_path)
        assert result.stopped_by == "disconnected" and not result.success
        assert "stopped answering" in result.extras["error"]
        record = json.loads((tmp_path / "episode.json").read_text())
        assert record["stopped_by"] == "disconnected"
        assert (tmp_path / "trace.jsonl").exists()
    finally:
        arm.close_world()


def _run(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "robot=mock",
            "scene=random",
            "seed=7",
            "instruction=put the red block in the blue bowl",
            "video=false",
            "frames=false",
            "quiet=true",
            f"hydra.run.dir={tmp_path}",
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )


@pytest.mark.slow  # the operator test below runs the same CLI path in the fast suite
def test_saycan_run_without_a_task_records_the_planners_outcome(tmp_path):
    """The CLI path on a sampled scene, with a planner that loads no model."""
    proc = _run(tmp_path, "planner=random", "max_steps=2")
    assert proc.returncode in (0, 1), proc.stderr
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["task"] == "none" and record["outcome_by"] == "planner"
    # The outcome is the planner's `done`, unless the detector judged the last step failed.
    done = record["stopped_by"] == "done" and record["last_step_detected"] is not False
    assert record["success"] == done and proc.returncode == (0 if done else 1)
    scene = json.loads((tmp_path / "trace.jsonl").read_text().splitlines()[0])["scene"]
    names = sorted(o["name"] for o in scene["objects"])  # the scene group's sample for seed 7
    assert names == sorted(
        ["blue block", "pink block", "gray block", "red block", "blue bowl", "orange bowl"]
    )


@pytest.mark.slow
def test_saycan_run_without_a_task_on_a_sampled_scene(tmp_path):
    """`saycan run instruction=... scene=random seed=S` in simulation (kinematic mock arm)."""
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "episode without a task" in proc.stdout
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["task"] == "none" and record["success"] and record["stopped_by"] == "done"
    assert record["plan"] == ["robot.pick_and_place(red block, blue bowl)", "robot.done()"]
    assert record["detected_successes"] == 1


def test_saycan_run_without_a_task_needs_an_instruction(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "robot=mock",
            "scene=random",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert 'needs instruction="..."' in proc.stderr


def test_the_operator_answers_for_the_outcome(tmp_path):
    """outcome_from_human=true: the operator's y/n at the end is the outcome, whatever the
    planner did (here a random planner cut off after one step)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "robot=mock",
            "scene=random",
            "seed=7",
            "instruction=put the red block in the blue bowl",
            "planner=random",
            "max_steps=1",
            "outcome_from_human=true",
            "video=false",
            "frames=false",
            "quiet=true",
            f"hydra.run.dir={tmp_path}",
        ],
        input="maybe\ny\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert 'Did the robot do "put the red block in the blue bowl"? [y/n]' in proc.stdout
    assert "please answer y or n" in proc.stdout
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["outcome_by"] == "operator" and record["operator_verdict"] is True
    assert record["success"] and record["task"] == "none"
    scene = json.loads((tmp_path / "trace.jsonl").read_text().splitlines()[0])["scene"]
    assert sorted(o["name"] for o in scene["objects"]) == sorted(  # the scene group, seed 7
        ["blue block", "pink block", "gray block", "red block", "blue bowl", "orange bowl"]
    )


def _run_bare(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "robot=bare_arm",
            f"hydra.searchpath=[file://{HERE / 'conf'}]",
            "perception=segmenter",
            "planner=random",
            "max_steps=1",
            "video=false",
            "frames=false",
            "quiet=true",
            f"hydra.run.dir={tmp_path}",
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )


def test_saycan_run_on_a_robot_without_simulator_extras(tmp_path):
    """`saycan run robot=R instruction=...`: the default task is ignored (nothing can set its
    scene up); without an instruction it is one line and exit 2."""
    proc = _run_bare(tmp_path, "instruction=put the red block in the blue bowl")
    assert proc.returncode in (0, 1), proc.stderr
    assert "episode without a task" in proc.stdout
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["task"] == "none" and record["outcome_by"] == "planner" and record["steps"] == 1
    (tmp_path / "again").mkdir()
    proc = _run_bare(tmp_path / "again")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bare-arm has no simulator to set up task put_block_in_bowl" in proc.stderr
