"""`SimMotion`: the `MotionInterface` over a simulated arm.

Cartesian moves follow a straight line: a waypoint advances toward the goal each physics step
(slowing near the goal, and slow throughout a guarded move), and the arm servoes to the IK
solution of the waypoint with position control. Budgets are physics steps, never wall time.
All IK runs on the robot's kinematic copy, so queries such as `is_reachable` leave the
simulation untouched and episodes stay bit-for-bit reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from saycan.drivers.types import GripperResult, MotionResult, MotionStatus, Pose
from saycan.sim.robots.base import SimRobot
from saycan.world import CONTROL_HZ

StepHook = Callable[[int], None]


@dataclass(frozen=True)
class MotionParams:
    """Speeds and tolerances of simulated motions."""

    control_hz: float = CONTROL_HZ  # physics steps per second (the env steps physics at this rate)
    max_speed: float = 0.30  # m/s, free-space Cartesian speed
    guarded_speed: float = 0.04  # m/s, speed of a move with stop_on_contact
    min_speed: float = 0.02  # m/s, speed the waypoint never drops below
    slow_down: float = 4.0  # 1/s: speed = slow_down * distance left (capped), ease-in at goal
    position_tolerance: float = 0.004  # m, end-effector error counted as arrived
    settle_velocity: float = 0.05  # rad/s, joints slower than this count as settled
    ik_position_tolerance: float = 0.01  # m, larger IK residual = IK_FAILED
    ik_orientation_tolerance: float = 0.15  # rad
    home_speed: float = 1.2  # rad/s, joint-space speed of home()
    contact_force: float = 0.2  # N, smaller normal forces are not a contact
    holding_width: float = 0.01  # m, a closed gripper wider than this holds something


class SimMotion:
    """Implements `saycan.drivers.base.MotionInterface` for a `SimRobot` in its client.

    `step_hooks` are called with the step counter after every physics step (the env uses one
    to capture video frames every N steps).
    """

    def __init__(self, robot: SimRobot, params: MotionParams | None = None) -> None:
        self.robot = robot
        self.client = robot.client
        self.params = params or MotionParams()
        self.sim_step = 0
        self.step_hooks: list[StepHook] = []
        self.held: int | None = None  # body the closed gripper holds, if any
        self.gripper_closed = False
        self._q_cmd = robot.arm_positions()

    # -- stepping ---------------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        """Advance physics `n` steps, running the step hooks after each."""
        for _ in range(n):
            self.client.stepSimulation()
            self.sim_step += 1
            for hook in self.step_hooks:
                hook(self.sim_step)

    def reset_state(self) -> None:
        """Forget command state after the world was rebuilt (counter included)."""
        self.sim_step = 0
        self.held = None
        self.gripper_closed = False
        self._q_cmd = self.robot.arm_positions()

    # -- MotionInterface --------------------------------------------------------------------
    def move_to_pose(
        self, pose: Pose, *, max_steps: int = 2000, stop_on_contact: bool = False
    ) -> MotionResult:
        p = self.params
        goal = np.asarray(pose.position, dtype=float)
        orn = np.asarray(pose.orientation, dtype=float)
        why = self._reach_problem(goal)
        if why is not None:
            return self._result(MotionStatus.UNREACHABLE, 0, why)
        q_goal = self._solve(goal, orn)
        if q_goal is None:
            where = tuple(round(float(v), 3) for v in goal)
            return self._result(MotionStatus.IK_FAILED, 0, f"no IK solution for {where}")

        steps = 0
        waypoint, _ = self.robot.ee_pose()
        q = self._q_cmd
        v_max = p.guarded_speed if stop_on_contact else p.max_speed
        dt = 1.0 / p.control_hz
        arrived_line = False
        while steps < max_steps:
            if not arrived_line:
                delta = goal - waypoint
                dist = float(np.linalg.norm(delta))
                speed = min(v_max, max(p.min_speed, p.slow_down * dist))
                if dist <= speed * dt:
                    waypoint = goal.copy()
                    arrived_line = True
                    q = q_goal
                else:
                    waypoint = waypoint + delta * (speed * dt / dist)
                    q, _, _ = self.robot.inverse(waypoint, orn, seed=q, iterations=1)
                self._command_arm(q)
            self.step()
            steps += 1
            if stop_on_contact and self._touching():
                self._command_arm(self.robot.arm_positions())
                return self._result(MotionStatus.CONTACT, steps, "stopped on contact")
            if arrived_line:
                ee, _ = self.robot.ee_pose()
                if (
                    np.linalg.norm(ee - goal) < p.position_tolerance
                    and np.abs(self.robot.arm_velocities()).max() < p.settle_velocity
                ):
                    return self._result(MotionStatus.OK, steps)
        where = tuple(round(float(v), 3) for v in goal)
        return self._result(MotionStatus.TIMEOUT, steps, f"not at {where} after {steps} steps")

    def set_gripper(self, closed: bool, *, max_steps: int = 500) -> GripperResult:
        self.robot.command_gripper(closed)
        self.gripper_closed = closed
        steps, still = 0, 0
        while steps < max_steps:
            self.step()
            steps += 1
            moving = np.abs(self.robot.finger_velocities()).max() > 1e-3
            still = 0 if moving else still + 1
            if steps >= 12 and still >= 6:
                break
        width = self.robot.gripper_width()
        holding = closed and width > self.params.holding_width
        self.held = self._between_fingers() if holding else None
        status = MotionStatus.OK if still >= 6 else MotionStatus.TIMEOUT
        return GripperResult(status, closed, width, holding, steps)

    def release(self, *, max_steps: int = 500) -> GripperResult:
        """Open the gripper and forget what it held (teleport executors use it after moving
        the held object away)."""
        return self.set_gripper(False, max_steps=max_steps)

    def home(self, *, max_steps: int = 3000) -> MotionResult:
        p = self.params
        target = np.asarray(self.robot.config.rest_pose, dtype=float)
        start = self._q_cmd.copy()
        span = float(np.abs(target - start).max())
        n = max(1, int(np.ceil(span / (p.home_speed / p.control_hz))))
        steps = 0
        for i in range(1, n + 1):
            if steps >= max_steps:
                break
            self._command_arm(start + (target - start) * (i / n))
            self.step()
            steps += 1
        while steps < max_steps:
            if np.abs(self.robot.arm_positions() - target).max() < 0.01 and (
                np.abs(self.robot.arm_velocities()).max() < p.settle_velocity
            ):
                return self._result(MotionStatus.OK, steps)
            self.step()
            steps += 1
        return self._result(MotionStatus.TIMEOUT, steps, "not home within the step budget")

    def is_reachable(self, pose: Pose) -> bool:
        goal = np.asarray(pose.position, dtype=float)
        if self._reach_problem(goal) is not None:
            return False
        return self._solve(goal, np.asarray(pose.orientation, dtype=float)) is not None

    # -- what the safety gate may ask (optional MotionInterface extras) ---------------------
    @property
    def control_hz(self) -> float:
        return self.params.control_hz

    @property
    def max_speed(self) -> float:
        """Fastest Cartesian speed a move commands (m/s)."""
        return self.params.max_speed

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        return self.robot.lower.copy(), self.robot.upper.copy()

    def joint_solution(self, pose: Pose) -> np.ndarray | None:
        """The arm joint positions a move to `pose` would end at (None: no IK solution)."""
        goal = np.asarray(pose.position, dtype=float)
        if self._reach_problem(goal) is not None:
            return None
        return self._solve(goal, np.asarray(pose.orientation, dtype=float))

    # -- extras the env uses ----------------------------------------------------------------
    def servo(self, position: np.ndarray, gripper_closed: bool, steps: int) -> None:
        """One low-level control interval: IK toward `position`, gripper command, `steps`."""
        q, _, _ = self.robot.inverse(position, (1.0, 0.0, 0.0, 0.0), seed=self._q_cmd)
        self._command_arm(q)
        if gripper_closed != self.gripper_closed:
            self.robot.command_gripper(gripper_closed)
            self.gripper_closed = gripper_closed
            if not gripper_closed:
                self.held = None
        self.step(steps)

    def hold(self, steps: int) -> float:
        """Stop where the arm is: command its current joints and let physics run `steps`
        (the arm brakes); returns the largest joint speed left (rad/s)."""
        self._command_arm(self.robot.arm_positions())
        self.step(steps)
        return float(np.abs(self.robot.arm_velocities()).max())

    def ee_position(self) -> tuple[float, float, float]:
        pos, _ = self.robot.ee_pose()
        return tuple(float(v) for v in pos)

    # -- internals --------------------------------------------------------------------------
    def _command_arm(self, q: np.ndarray) -> None:
        self._q_cmd = np.asarray(q, dtype=float)
        self.robot.command_arm(self._q_cmd)

    def _reach_problem(self, goal: np.ndarray) -> str | None:
        cfg = self.robot.config
        if not np.all(np.isfinite(goal)):
            return "target is not finite"
        d = float(np.linalg.norm(goal - np.asarray(cfg.shoulder)))
        if d > cfg.reach:
            return f"target {d:.2f} m from the shoulder; the arm reaches {cfg.reach:.2f} m"
        return None

    def _solve(self, goal: np.ndarray, orn: np.ndarray) -> np.ndarray | None:
        p = self.params
        for seed in (self._q_cmd, None):
            q, perr, oerr = self.robot.inverse(goal, orn, seed=seed, iterations=4)
            if perr >= p.position_tolerance:
                # Slow convergence (e.g. a turned hand close to the base): a move ends at
                # exactly q, so a residual above the arrival tolerance could never arrive.
                q, perr, oerr = self.robot.inverse(goal, orn, seed=q, iterations=12)
            if perr < p.ik_position_tolerance and oerr < p.ik_orientation_tolerance:
                return q
        return None

    def _touching(self) -> bool:
        """Fingers/hand, or the held object, press on something else."""
        c, robot = self.client, self.robot
        thr = self.params.contact_force
        for pt in robot.contacts():
            if pt[2] not in (robot.body, self.held) and pt[9] > thr:
                return True
        if self.held is not None:
            for pt in c.getContactPoints(bodyA=self.held):
                if pt[2] != robot.body and pt[9] > thr:
                    return True
        return False

    def _between_fingers(self) -> int | None:
        """The body touched by every finger (what a closed gripper holds)."""
        robot = self.robot
        touched: set[int] | None = None
        for link in robot.config.finger_joints:
            bodies = {
                pt[2]
                for pt in self.client.getContactPoints(bodyA=robot.body, linkIndexA=link)
                if pt[2] != robot.body
            }
            touched = bodies if touched is None else touched & bodies
        return min(touched) if touched else None

    def _result(self, status: MotionStatus, steps: int, message: str = "") -> MotionResult:
        return MotionResult(status, steps, self.ee_position(), message)
