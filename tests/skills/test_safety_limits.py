"""Safety limits are validated when built, the robot's cell bounds every target whatever is
configured, and the gated driver forwards only what it knows (no pass-through to the motors)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from saycan.drivers.base import MotionInterface, RobotDriver, SimulatorExtras
from saycan.drivers.capabilities import (
    ChecksPoses,
    ControlRate,
    DeclaresSpeed,
    ReportsPosition,
    SolvesJoints,
)
from saycan.drivers.mock import MockDriver
from saycan.drivers.types import MotionStatus, Pose
from saycan.errors import ConfigError, GateRefusal
from saycan.sim.cell import TABLETOP_CELL
from saycan.skills.safety import SafeDriver, SafetyGate, SafetyLimits
from saycan.skills.teleport import TeleportExecutor

CHEAP = ["executor=teleport", "planner=oracle", "video=false", "frames=false", "quiet=true"]
CELL = "(-0.35, -0.65, 0)..(1, 0.65, 0.75) m, the table's edges and 0.1 m under the overhead camera"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            ["safety.limits.workspace_max=[0.85,0.45,0.9]"],
            f"safety.limits.workspace_max z = 0.9 m is outside the cell of pybullet-panda: {CELL}",
        ),
        (
            ["safety.limits.guarded_depth=0.3"],
            "safety.limits.guarded_depth must be between 0 and 0.02 m (how far a guarded descent "
            "may aim into the table), got 0.3",
        ),
        (
            ["safety.limits.workspace_min=[0.1,0.2]"],
            "safety.limits.workspace_min must be 3 numbers (x, y, z), got [0.1, 0.2]",
        ),
        (
            ["safety.limits.workspace_min=[0.1,0.45,0.0]"],
            "safety.limits: workspace_min must be below workspace_max on every axis; "
            "y: 0.45 >= 0.45 (an inverted box refuses every motion)",
        ),
        (
            [
                "safety.limits.workspace_min=[0.85,0.45,0.7]",
                "safety.limits.workspace_max=[0.1,-0.45,0.0]",
            ],
            "safety.limits: workspace_min must be below workspace_max on every axis; "
            "x: 0.85 >= 0.1 (an inverted box refuses every motion)",
        ),
        (
            ["safety.limits.max_steps_per_motion=-5"],
            "safety.limits.max_steps_per_motion must be an integer >= 1, got -5",
        ),
        (["safety.limits.max_speed=0"], "safety.limits.max_speed must be > 0 m/s or null, got 0"),
    ],
)
def test_bad_limits_are_one_line_and_exit_2(tmp_path, saycan_in_process, overrides, line):
    # in this process; `test_nan_box_exits_2_in_a_real_process` crosses the process boundary
    code, err = saycan_in_process("run", *CHEAP, f"hydra.run.dir={tmp_path}", *overrides)
    assert code == 2
    assert err.strip() == f"saycan: error: {line}"
    assert not (tmp_path / "trace.jsonl").exists()  # no episode started: nothing moved


def test_nan_box_exits_2_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            *CHEAP,
            f"hydra.run.dir={tmp_path}",
            "safety.limits.workspace_max=[nan,nan,nan]",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == (
        "saycan: error: safety.limits.workspace_max must be finite, got [nan, nan, nan]"
    )
    assert proc.stdout == "" and not (tmp_path / "trace.jsonl").exists()


@pytest.mark.parametrize(
    ("limits", "match"),
    [
        ({"joint_limits": [[0.1, -0.1]]}, r"joint_limits\[0\]: lo 0.1 must be below hi -0.1"),
        ({"joint_margin": -0.1}, "joint_margin must be >= 0"),
        ({"speed_stop_factor": 0.5}, "speed_stop_factor must be >= 1"),
        ({"table_z": float("inf")}, "table_z must be finite"),
        ({"max_steps_per_motion": 2.5}, "max_steps_per_motion must be an integer >= 1"),
        ({"workspace_max": "abc"}, r"workspace_max must be 3 numbers"),
        ({"table_z": 0.9}, r"table_z = 0.9 m must be below workspace_max z = 0.7 m"),
    ],
)
def test_every_limit_is_checked(limits, match):
    with pytest.raises(ConfigError, match=match):
        SafetyLimits.from_any(limits)


def test_defaults_are_valid_and_inside_the_cell():
    limits = SafetyLimits()
    limits.check_within(TABLETOP_CELL, "panda")
    with pytest.raises(ConfigError, match="outside the cell of mock"):
        SafetyGate(limits={"workspace_min": [-0.5, -0.45, 0.0]}).wrap_driver(MockDriver())


@pytest.fixture
def panda():
    from saycan.drivers.pybullet_driver import PyBulletDriver

    driver = PyBulletDriver(robot="panda", camera_width=32, camera_height=24)
    driver.connect()
    yield driver
    driver.disconnect()


def _pose(driver) -> np.ndarray:
    obs = driver.get_observation()
    return np.concatenate([obs.ee_position, obs.joint_positions])


def test_a_target_above_the_cell_never_reaches_the_panda(panda):
    # A gate whose configured box was widened past the cell (built around `wrap_driver`, which
    # would refuse it) and a gate with its limits switched off: the cell still holds.
    wide = SafetyGate(limits={"workspace_max": [0.85, 0.45, 0.95]})
    off = SafetyGate(enabled=False)
    before, steps = _pose(panda), panda.get_observation().step
    for gated in (SafeDriver(panda, wide, panda.workcell), off.wrap_driver(panda)):
        res = gated.motion.move_to_pose(Pose((0.5, 0.0, 0.9)))
        assert res.status == MotionStatus.REFUSED and res.steps == 0
        assert "outside the robot's cell" in res.message
        deep = gated.motion.move_to_pose(Pose((0.5, 0.0, -0.25)), stop_on_contact=True)
        assert deep.status == MotionStatus.REFUSED and deep.steps == 0
        assert gated.motion.commands_sent == 0
        assert not gated.motion.is_reachable(Pose((0.5, 0.0, 0.9)))
    assert panda.get_observation().step == steps
    np.testing.assert_allclose(_pose(panda), before, atol=1e-9)


def test_a_raised_workspace_floor_holds_on_the_panda(panda):
    # workspace_min z above the table is a floor of its own, for plain and guarded moves; the
    # guarded allowance still applies where the floor is the table (defaults).
    high = SafetyGate(limits={"workspace_min": [0.1, -0.45, 0.3]}).wrap_driver(panda)
    before, steps = _pose(panda), panda.get_observation().step
    for guarded in (False, True):
        res = high.motion.move_to_pose(Pose((0.5, 0.0, 0.1)), stop_on_contact=guarded)
        assert res.status == MotionStatus.REFUSED and res.steps == 0
        assert "outside the workspace" in res.message
    assert high.motion.commands_sent == 0 and panda.get_observation().step == steps
    np.testing.assert_allclose(_pose(panda), before, atol=1e-9)
    for bad in ((0.5, 0.0), (0.5, 0.0, 0.3, 1.0)):
        res = high.motion.move_to_pose(Pose(bad))
        assert res.status == MotionStatus.REFUSED and "pose" in res.message
    assert high.motion.commands_sent == 0 and panda.get_observation().step == steps
    assert SafetyGate().check_pose(Pose((0.5, 0.0, -0.01)), guarded=True) is None
    assert SafetyGate().check_pose(Pose((0.5, 0.0, -0.01))) is not None


def test_unknown_commands_are_refused_and_nothing_moves(panda):
    gate = SafetyGate()
    gated = gate.wrap_driver(panda)
    before, steps = _pose(panda), panda.get_observation().step
    assert callable(panda.motion.servo)  # the simulator has it...
    with pytest.raises(GateRefusal, match=r"safety gate \(SafeMotion\) does not forward 'servo'"):
        gated.motion.servo(np.array([0.5, 0.0, -0.3]), False, 240)
    assert gate.log == [
        "servo (not forwarded): the safety gate (SafeMotion) does not forward 'servo': only "
        "move_to_pose, set_gripper, home, is_reachable, check_pose, ee_position reach the robot "
        "through it"
    ]
    for name in ("env", "step"):  # ...the gated driver forwards none of these
        refusal = rf"safety gate \(SafeSimulator\) does not forward '{name}'"
        with pytest.raises(GateRefusal, match=refusal):
            getattr(gated, name)
    assert len(gate.log) == 2  # `env` is the driver's (refused, recorded); `step` is nobody's
    assert not hasattr(gated, "no_such_thing") and len(gate.log) == 2  # a probe is no refusal
    assert gated.motion.commands_sent == 0 and panda.get_observation().step == steps
    np.testing.assert_allclose(_pose(panda), before, atol=1e-9)
    # What is forwarded: the protocols, read-only queries, scene-level simulator extras.
    assert gated.motion.ee_position() == panda.motion.ee_position()
    assert callable(gated.reset_scene) and callable(gated.teleport_object)
    assert isinstance(gated, RobotDriver) and isinstance(gated.motion, MotionInterface)
    # The extras come with the declared protocol, checked once, never name by name: the
    # wrapper of a driver that is no simulator forwards none of them, whatever the driver has.
    assert isinstance(gated, SimulatorExtras) and gated.ground_truth() == panda.ground_truth()
    plain = SafeDriver(panda, gate)
    assert not isinstance(plain, SimulatorExtras)
    with pytest.raises(GateRefusal, match=r"\(SafeDriver\) does not forward 'reset_scene'"):
        plain.reset_scene  # noqa: B018


def test_what_a_motion_offers_is_declared_and_the_gate_relies_on_it(panda):
    """The gate's extra checks follow the wrapped motion's declared capabilities: the
    simulator declares its speed, so a slower limit refuses the move before it is sent."""
    sim = panda.motion
    offered = (ReportsPosition, DeclaresSpeed, ControlRate, SolvesJoints)
    assert all(isinstance(sim, c) for c in offered)
    assert not isinstance(sim, ChecksPoses)  # only the gate says why it would refuse
    mock = MockDriver().motion  # kinematic: a position, no speed, no joint solver
    assert isinstance(mock, ReportsPosition) and not isinstance(mock, (DeclaresSpeed, SolvesJoints))
    gated = SafetyGate(limits={"max_speed": 0.1}).wrap_driver(panda).motion
    assert isinstance(gated, ChecksPoses) and isinstance(gated, ReportsPosition)
    steps = panda.get_observation().step
    res = gated.move_to_pose(Pose((0.5, 0.0, 0.3)))
    assert res.status == MotionStatus.REFUSED and "above the limit 0.10 m/s" in res.message
    assert gated.commands_sent == 0 and panda.get_observation().step == steps


def test_gated_executor_forwards_only_execute():
    gate = SafetyGate()
    executor = gate.wrap_executor(TeleportExecutor(skills=None))
    with pytest.raises(AttributeError):
        executor.skills  # noqa: B018 - the wrapped executor's parts stay behind the gate
    assert executor.name == "teleport" and executor.halted is False
