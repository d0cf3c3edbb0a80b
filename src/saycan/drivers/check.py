"""`check_driver`: a conformance check for `RobotDriver` implementations (like gymnasium's
`check_env`). Driver authors run it in their own CI::

    from saycan.drivers import check_driver
    check_driver(MyArmDriver(...))            # raises DriverContractError naming what is broken

It checks, in order: the protocol surface (`name`, `is_physical`, `is_connected`, `motion`);
idempotent `connect`/`disconnect` (and that a disconnected driver refuses observations with a
`DriverError`); the observation (types, shapes, dtypes, units and frames of RGB-D, camera
intrinsics/extrinsics, joint and gripper state); motions (a reachable pose is reached and the
observation agrees, an unreachable or non-finite pose is answered with a typed failure, never
an exception); the gripper (close and open are reported, and the observation agrees); `home`.

The check moves the robot. On a physical arm, pass poses that are safe in your cell
(`reachable_pose`), clear the workspace, and keep a hand on the e-stop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saycan.drivers.base import MotionInterface, RobotDriver
from saycan.drivers.types import (
    CameraInfo,
    GripperResult,
    MotionResult,
    MotionStatus,
    Observation,
    Pose,
)
from saycan.errors import DriverError

#: Statuses that answer "this pose cannot be reached" (the safety gate's REFUSED counts too).
UNREACHABLE_STATUSES = (MotionStatus.UNREACHABLE, MotionStatus.IK_FAILED, MotionStatus.REFUSED)
#: 5 m out: beyond the reach of any arm this stack drives, so a correct driver must refuse it.
FAR_OUT_OF_REACH = Pose((5.0, 0.0, 0.3))


class DriverContractError(DriverError):
    """A driver does not meet the `RobotDriver` / `MotionInterface` contract.

    `problems` lists every violation found (each names the method or field and what is wrong).
    """

    def __init__(self, driver_name: str, problems: list[str]) -> None:
        self.driver_name = driver_name
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(
            f"driver {driver_name!r} breaks the driver contract ({n} "
            f"problem{'s' * (n != 1)}):\n{lines}"
        )


@dataclass
class CheckReport:
    """What `check_driver` verified (returned when everything passed)."""

    driver: str
    passed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Checker:
    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.name = str(getattr(driver, "name", type(driver).__name__))
        self.problems: list[str] = []
        self.report = CheckReport(self.name)

    def expect(self, cond: bool, problem: str, passed: str | None = None) -> bool:
        if cond:
            if passed:
                self.report.passed.append(passed)
        else:
            self.problems.append(problem)
        return bool(cond)

    def call(self, what: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run `fn`; an exception is a violation (`what` raised ...)."""
        try:
            return True, fn()
        except Exception as exc:  # noqa: BLE001 - any exception is the finding
            self.problems.append(f"{what} raised {type(exc).__name__}: {exc}")
            return False, None


def check_driver(
    driver: Any,
    *,
    reachable_pose: Pose | None = None,
    unreachable_pose: Pose = FAR_OUT_OF_REACH,
    position_tolerance: float = 0.02,
    max_steps: int = 3000,
    check_gripper: bool = True,
) -> CheckReport:
    """Check `driver` against the driver contract; raise `DriverContractError` listing every
    violation, or return a `CheckReport` of what passed.

    `reachable_pose` (default: 10 cm below and 10 cm in front of the observed home position)
    must be a free, safe pose in the robot's workspace. The driver is left in the connection
    state it was found in.
    """
    c = _Checker(driver)
    was_connected = bool(getattr(driver, "is_connected", False))
    try:
        _check_surface(c)
        if c.problems:  # without the basic surface nothing else can be checked meaningfully
            raise DriverContractError(c.name, c.problems)
        _check_connection(c)
        ok, _ = c.call("connect()", driver.connect)
        if not ok or not driver.is_connected:
            c.problems.append("connect() did not leave the driver connected")
            raise DriverContractError(c.name, c.problems)
        obs = _check_observation(c, "get_observation()")
        motion = driver.motion
        if not isinstance(motion, MotionInterface):
            missing = [
                m
                for m in ("move_to_pose", "set_gripper", "home", "is_reachable")
                if not callable(getattr(motion, m, None))
            ]
            c.problems.append(
                f"driver.motion ({type(motion).__name__}) is not a MotionInterface: missing "
                f"{missing}"
            )
            raise DriverContractError(c.name, c.problems)
        _check_home(c, motion, max_steps)
        home_obs = _check_observation(c, "get_observation() after home()") or obs
        if reachable_pose is None and home_obs is not None:
            x, y, z = home_obs.ee_position
            reachable_pose = Pose((x + 0.1, y, max(0.1, z - 0.1)))
        if reachable_pose is not None:
            _check_reachable(c, motion, reachable_pose, position_tolerance, max_steps)
        _check_unreachable(c, motion, unreachable_pose)
        if check_gripper:
            _check_gripper(c, motion)
        _check_home(c, motion, max_steps)
    finally:
        try:
            if was_connected and not driver.is_connected:
                driver.connect()
            elif not was_connected and driver.is_connected:
                driver.disconnect()
        except Exception:  # noqa: BLE001 - reported above if it matters
            pass
    if c.problems:
        raise DriverContractError(c.name, c.problems)
    return c.report


# -- the checks ---------------------------------------------------------------------------------
def _check_surface(c: _Checker) -> None:
    d = c.driver
    c.expect(
        isinstance(getattr(d, "name", None), str) and bool(d.name),
        "driver.name must be a non-empty str",
    )
    c.expect(
        isinstance(getattr(d, "is_physical", None), bool),
        f"driver.is_physical must be a bool (got {getattr(d, 'is_physical', '<missing>')!r}); "
        "physical drivers refuse parallel sweep launchers",
    )
    for m in ("connect", "disconnect", "get_observation"):
        c.expect(callable(getattr(d, m, None)), f"driver.{m} is missing or not callable")
    if not c.problems:
        c.expect(
            isinstance(d, RobotDriver),
            "driver does not satisfy the RobotDriver protocol (name, is_physical, "
            "is_connected, motion, connect, disconnect, get_observation)",
            "protocol surface",
        )


def _check_connection(c: _Checker) -> None:
    d = c.driver
    for attempt in ("first", "second"):
        if not c.call(f"disconnect() ({attempt} call, idempotent)", d.disconnect)[0]:
            return
    c.expect(
        d.is_connected is False,
        f"is_connected is {d.is_connected!r} after disconnect(); expected False",
    )
    try:
        d.get_observation()
        c.problems.append(
            "get_observation() on a disconnected driver returned; it must raise DriverError"
        )
    except DriverError:
        c.report.passed.append("disconnected driver refuses observations")
    except Exception as exc:  # noqa: BLE001
        c.problems.append(
            f"get_observation() on a disconnected driver raised {type(exc).__name__}; it must "
            "raise saycan.errors.DriverError (or a subclass)"
        )
    for attempt in ("first", "second"):
        if not c.call(f"connect() ({attempt} call, idempotent)", d.connect)[0]:
            return
    c.expect(
        d.is_connected is True,
        f"is_connected is {d.is_connected!r} after connect(); expected True",
        "idempotent connect/disconnect",
    )


def _check_observation(c: _Checker, what: str) -> Observation | None:
    ok, obs = c.call(what, c.driver.get_observation)
    if not ok:
        return None
    if not isinstance(obs, Observation):
        c.problems.append(
            f"{what} returned {type(obs).__name__}, not saycan.drivers.types.Observation"
        )
        return None
    n0 = len(c.problems)
    cam = obs.camera
    if not isinstance(cam, CameraInfo):
        c.problems.append(f"observation.camera is {type(cam).__name__}, not CameraInfo")
    else:
        K = np.asarray(cam.intrinsics)
        if K.shape != (3, 3):
            c.problems.append(f"camera.intrinsics has shape {K.shape}; expected (3, 3) (pinhole K)")
        elif not (np.allclose(K[2], (0, 0, 1)) and K[0, 0] > 0 and K[1, 1] > 0 and K[1, 0] == 0):
            c.problems.append(
                "camera.intrinsics is not a pinhole K ([[fx,s,cx],[0,fy,cy],[0,0,1]], fx, fy > 0): "
                f"{K.tolist()}"
            )
        T = np.asarray(cam.world_from_camera, dtype=float)
        if T.shape != (4, 4):
            c.problems.append(f"camera.world_from_camera has shape {T.shape}; expected (4, 4)")
        else:
            R = T[:3, :3]
            if not np.allclose(T[3], (0, 0, 0, 1)):
                c.problems.append("camera.world_from_camera's last row must be (0, 0, 0, 1)")
            elif not (
                np.allclose(R.T @ R, np.eye(3), atol=1e-4) and abs(np.linalg.det(R) - 1) < 1e-4
            ):
                c.problems.append(
                    "camera.world_from_camera's rotation is not orthonormal with det +1"
                )
            elif np.linalg.norm(T[:3, 3]) > 10:
                c.problems.append(
                    f"camera position {T[:3, 3].tolist()} is > 10 m from the world origin: metres "
                    "expected"
                )
    if obs.rgb is None or obs.depth is None:
        c.problems.append("observation.rgb and .depth must be images (RGB-D), not None")
    else:
        rgb, depth = np.asarray(obs.rgb), np.asarray(obs.depth)
        hw = (cam.height, cam.width) if isinstance(cam, CameraInfo) else rgb.shape[:2]
        if rgb.shape != (*hw, 3) or rgb.dtype != np.uint8:
            c.problems.append(
                f"observation.rgb is {rgb.dtype}{rgb.shape}; expected uint8 (H, W, 3) = {(*hw, 3)}"
            )
        if depth.shape != tuple(hw) or depth.dtype != np.float32:
            c.problems.append(
                f"observation.depth is {depth.dtype}{depth.shape}; expected float32 (H, W) = "
                f"{tuple(hw)}"
            )
        else:
            finite = depth[np.isfinite(depth)]
            if finite.size and (finite.min() < 0 or np.median(finite) > 20):
                c.problems.append(
                    f"observation.depth ranges {finite.min():.3g}..{finite.max():.3g} (median "
                    f"{np.median(finite):.3g}): expected non-negative metres (not millimetres)"
                )
    q = np.asarray(obs.joint_positions)
    if (
        q.ndim != 1
        or q.size == 0
        or not np.issubdtype(q.dtype, np.floating)
        or not np.all(np.isfinite(q))
    ):
        c.problems.append(
            "observation.joint_positions must be a non-empty finite 1-D float array (got "
            f"{q.dtype}{q.shape})"
        )
    elif np.abs(q).max() > 4 * math.pi:
        c.problems.append(
            f"observation.joint_positions has |q| up to {np.abs(q).max():.1f}: radians expected, "
            "not degrees"
        )
    w = obs.gripper_width
    if not isinstance(w, (float, np.floating)) or not math.isfinite(w):
        c.problems.append(f"observation.gripper_width must be a finite float (got {w!r})")
    elif not -0.005 <= w <= 0.3:
        c.problems.append(
            f"observation.gripper_width = {w}: expected metres between the fingers (0 .. 0.3)"
        )
    if not isinstance(obs.gripper_holding, (bool, np.bool_)):
        c.problems.append(
            f"observation.gripper_holding must be a bool (got {obs.gripper_holding!r})"
        )
    ee = obs.ee_position
    if not (
        isinstance(ee, tuple)
        and len(ee) == 3
        and all(isinstance(v, (float, np.floating)) and math.isfinite(v) for v in ee)
    ):
        c.problems.append(
            f"observation.ee_position must be a tuple of 3 finite floats (got {ee!r})"
        )
    elif np.linalg.norm(ee) > 3.0:
        c.problems.append(
            f"observation.ee_position {ee} is > 3 m from the world origin: metres in the world "
            "frame expected"
        )
    if not isinstance(obs.step, (int, np.integer)) or obs.step < 0:
        c.problems.append(f"observation.step must be a non-negative int (got {obs.step!r})")
    c.expect(len(c.problems) == n0, "", f"{what}: observation well formed")
    return obs


def _typed_motion(c: _Checker, what: str, res: Any) -> bool:
    if not isinstance(res, MotionResult):
        c.problems.append(f"{what} returned {type(res).__name__}; expected MotionResult")
        return False
    if not isinstance(res.status, MotionStatus):
        c.problems.append(f"{what} returned status {res.status!r}; expected a MotionStatus")
        return False
    return True


def _check_home(c: _Checker, motion: MotionInterface, max_steps: int) -> None:
    ok, res = c.call("motion.home()", lambda: motion.home(max_steps=max_steps))
    if ok and _typed_motion(c, "motion.home()", res):
        c.expect(
            res.status == MotionStatus.OK,
            f"motion.home() ended {res.status.value}: {res.message}",
            "home()",
        )


def _check_reachable(
    c: _Checker, motion: MotionInterface, pose: Pose, tol: float, max_steps: int
) -> None:
    ok, reach = c.call(f"motion.is_reachable({pose.position})", lambda: motion.is_reachable(pose))
    if ok and not isinstance(reach, (bool, np.bool_)):
        c.problems.append(f"motion.is_reachable returned {type(reach).__name__}; expected bool")
    elif ok and not reach:
        c.problems.append(
            f"motion.is_reachable({pose.position}) is False for the reachable test pose"
        )
    # A driver that drops its connection mid-check is a finding of the report, not a crash.
    ok, first = c.call("get_observation() before move_to_pose", c.driver.get_observation)
    if not ok:
        return
    before = first.step
    ok, res = c.call(
        f"motion.move_to_pose({pose.position})",
        lambda: motion.move_to_pose(pose, max_steps=max_steps),
    )
    if not (ok and _typed_motion(c, "motion.move_to_pose", res)):
        return
    if res.status != MotionStatus.OK:
        c.problems.append(
            f"move_to_pose({pose.position}) ended {res.status.value} ({res.message}); expected ok"
        )
        return
    if res.position is not None and np.linalg.norm(np.subtract(res.position, pose.position)) > tol:
        c.problems.append(
            f"move_to_pose reported ok but MotionResult.position {res.position} is not at "
            f"{pose.position}"
        )
    ok, obs = c.call("get_observation() after move_to_pose", c.driver.get_observation)
    if not ok:
        return
    err = float(np.linalg.norm(np.subtract(obs.ee_position, pose.position)))
    c.expect(
        err <= tol,
        f"after move_to_pose({pose.position}) the observation's ee_position is "
        f"{tuple(round(v, 3) for v in obs.ee_position)} ({err:.3f} m away): ee_position and Pose "
        "must be the same point in the same (world) frame",
        "reachable pose reached; observation agrees",
    )
    c.expect(obs.step >= before, f"observation.step went backwards ({before} -> {obs.step})")
    c.expect(
        isinstance(res.steps, (int, np.integer)) and res.steps >= 0,
        f"MotionResult.steps must be a non-negative int (got {res.steps!r})",
    )


def _check_unreachable(c: _Checker, motion: MotionInterface, far: Pose) -> None:
    for label, pose in (
        ("an unreachable pose", far),
        ("a non-finite pose", Pose((float("nan"), 0.0, 0.3))),
    ):
        ok, res = c.call(
            f"motion.move_to_pose({label})", lambda p=pose: motion.move_to_pose(p, max_steps=200)
        )
        if ok and _typed_motion(c, f"move_to_pose({label})", res):
            c.expect(
                res.status in UNREACHABLE_STATUSES,
                f"move_to_pose({label} {pose.position}) ended {res.status.value}; expected a "
                f"typed failure ({', '.join(s.value for s in UNREACHABLE_STATUSES)})",
                f"{label} answered with {res.status.value}",
            )
        ok, reach = c.call(f"motion.is_reachable({label})", lambda p=pose: motion.is_reachable(p))
        if ok:
            c.expect(
                reach is False or reach is np.False_,
                f"motion.is_reachable({label} {pose.position}) returned {reach!r}; expected False",
            )


def _check_gripper(c: _Checker, motion: MotionInterface) -> None:
    widths = {}
    for closed in (True, False):
        what = f"motion.set_gripper(closed={closed})"
        ok, res = c.call(what, lambda cl=closed: motion.set_gripper(cl))
        if not ok:
            continue
        if not isinstance(res, GripperResult) or not isinstance(res.status, MotionStatus):
            c.problems.append(
                f"{what} returned {type(res).__name__}; expected GripperResult with a MotionStatus"
            )
            continue
        c.expect(
            res.status == MotionStatus.OK,
            f"{what} ended {res.status.value}; expected ok with nothing between the fingers",
        )
        c.expect(res.closed is closed, f"{what} reported closed={res.closed!r}")
        c.expect(
            res.holding is False, f"{what} reported holding=True with nothing between the fingers"
        )
        ok, obs = c.call(f"get_observation() after {what}", c.driver.get_observation)
        if not ok:
            continue
        widths[closed] = obs.gripper_width
        c.expect(
            abs(obs.gripper_width - res.width) < 0.005,
            f"{what} reported width {res.width:.3f} m but the observation says "
            f"{obs.gripper_width:.3f} m",
        )
        c.expect(
            not obs.gripper_holding,
            f"after {what} with nothing to grasp, observation.gripper_holding is True",
        )
    if len(widths) == 2:
        c.expect(
            widths[False] > widths[True] + 0.01,
            f"the gripper opening did not change: closed {widths[True]:.3f} m, open "
            f"{widths[False]:.3f} m",
            "gripper close/open reported",
        )
