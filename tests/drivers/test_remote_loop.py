"""The whole loop over `robot=remote` against a PyBullet `saycan serve-robot` in another
process, ground truth hidden from the client (the host is not in debug mode): the episode is
judged from perception alone and the host's own record of the world is compared afterwards.
Fault tests: the host killed mid-skill, the client killed mid-motion, 200 ms of latency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from saycan.api import SayCan
from saycan.sim.geometry import is_in_bowl

from .robot_host import TOKEN, TOKEN_ENV, client_env, robot_host

pytestmark = pytest.mark.slow


def instruction_for(host) -> tuple[str, str, str]:
    """Colours of objects actually on the host's table (its record of the start scene)."""
    objects = host.events("ground_truth")[0]["objects"]
    blocks = [o["colour"] for o in objects if o["category"] == "block"]
    bowls = [o["colour"] for o in objects if o["category"] == "bowl"]
    block = next((c for c in blocks if c in bowls), blocks[0])
    bowl = block if block in bowls else bowls[0]
    return f"put the {block} block in the {bowl} bowl", f"{block} block", f"{bowl} bowl"


def solve_over_the_wire(host, out_dir) -> None:
    """Default planner, segmenter perception, analytic affordances, over robot=remote."""
    instruction, block, bowl = instruction_for(host)
    with SayCan([*host.client_overrides(), "perception=segmenter", "affordance=analytic"]) as stack:
        assert stack.components.sim is None  # nothing simulator-only on this side
        result = stack.run_episode(instruction, out_dir=out_dir)
    # judged from perception alone: the planner's done and the success detector's verdicts
    assert result.task == "none" and result.extras["outcome_by"] == "planner"
    assert result.plan[0] == f"robot.pick_and_place({block}, {bowl})"
    assert result.stopped_by == "done" and result.success, result.to_dict()
    assert result.extras["detected_successes"] >= 1
    # the host's ground truth, recorded on its own machine when the client said bye
    end = host.wait_for("session_end")[-1]
    assert end["why"] == "client said bye"
    end = host.events("ground_truth")[-1]
    assert end["why"] == "client said bye"
    world = {o["name"]: o for o in end["objects"]}
    truth = is_in_bowl(world[block]["position"], world[bowl]["position"])
    assert truth == result.success  # the perceived verdict agrees with the world
    assert json.loads((out_dir / "episode.json").read_text())["success"]


def test_the_whole_loop_over_the_wire_on_a_sampled_scene(tmp_path):
    client_env()
    with robot_host(tmp_path / "host", "robot=panda", "scene=random", "seed=11") as host:
        solve_over_the_wire(host, tmp_path / "episode")
        assert not [e for e in host.events() if e["event"] in ("estop", "refused")]


def test_with_200_ms_of_latency_the_episode_still_succeeds(tmp_path):
    client_env()
    with robot_host(
        tmp_path / "host", "robot=panda", "scene=random", "seed=5", "delay_s=0.2"
    ) as host:
        solve_over_the_wire(host, tmp_path / "episode")
        assert host.events("start")[0]["delay_s"] == 0.2


def test_host_killed_mid_skill_ends_the_episode_disconnected_within_2_s(tmp_path):
    client_env()
    out = tmp_path / "episode"
    with robot_host(tmp_path / "host", "robot=panda", "scene=random", "seed=11") as host:
        instruction, _, _ = instruction_for(host)
        killed: list[float] = []

        def kill_on_first_motion() -> None:
            host.wait_for("motion", timeout=600)
            host.proc.send_signal(signal.SIGKILL)
            killed.append(time.monotonic())

        threading.Thread(target=kill_on_first_motion, daemon=True).start()
        with SayCan([*host.client_overrides(), "perception=segmenter"]) as stack:
            result = stack.run_episode(instruction, out_dir=out)
            ended = time.monotonic()
    assert killed, "the host was never told to move"
    assert ended - killed[0] < 2.0
    assert result.stopped_by == "disconnected" and not result.success
    assert "connection dropped" in result.extras["error"]
    record = json.loads((out / "episode.json").read_text())
    assert record["stopped_by"] == "disconnected"
    assert (out / "trace.jsonl").exists()


CLIENT = """
import sys
from saycan.drivers.remote import RemoteDriver
from saycan.drivers.types import Pose
d = RemoteDriver(sys.argv[1], token_env=sys.argv[2])
d.connect()
print("moving", flush=True)
d.motion.move_to_pose(Pose((0.65, 0.3, 0.45)), max_steps=20000, stop_on_contact=True)
print("finished", flush=True)
"""


def test_client_killed_mid_motion_latches_the_e_stop_and_the_arm_stops(tmp_path):
    timeout = 0.5
    with robot_host(tmp_path / "host", "robot=panda", f"heartbeat_timeout_s={timeout}") as host:
        env = {**os.environ, TOKEN_ENV: TOKEN}
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, host.address, TOKEN_ENV],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert client.stdout.readline().strip() == "moving"
        host.wait_for("motion")
        time.sleep(0.3)  # the slow guarded move is under way
        client.kill()
        killed = time.time()
        client.wait()
        estop = host.wait_for("estop", timeout=10)[0]
        halted = host.wait_for("halted", timeout=10)[0]
    assert estop["halted"] is True
    assert estop["t"] - killed < timeout + 0.3  # within heartbeat_timeout (+ scheduling)
    assert halted["joint_speed_before"] > 0.02  # it was moving when halted...
    assert halted["joint_speed"] < 0.01  # ...and stands still after braking


def test_bench_remote_prints_success_over_the_wire_and_the_overhead_ratio(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "bench",
            "remote",
            "trials=2",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["trials"] == 2 and 0.0 <= result["success_rate"] <= 1.0
    assert result["remote"]["median_wall_s"] > 0 and result["overhead_ratio"] > 0
    assert (tmp_path / "host" / "host.jsonl").exists()
