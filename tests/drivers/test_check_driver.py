"""`check_driver` passes for the shipped drivers and names what a broken driver breaks."""

from __future__ import annotations

import numpy as np
import pytest

from saycan.drivers import DriverContractError, MockDriver, PyBulletDriver, check_driver
from saycan.drivers.types import MotionResult, MotionStatus
from saycan.errors import DriverError


def test_mock_driver_conforms():
    d = MockDriver()
    report = check_driver(d)
    assert "idempotent connect/disconnect" in report.passed
    assert "gripper close/open reported" in report.passed
    assert not d.is_connected  # left as found


@pytest.mark.parametrize("robot", ["panda", "xarm6"])
def test_pybullet_driver_conforms(robot):
    d = PyBulletDriver(robot=robot, camera_width=32, camera_height=24)
    try:
        report = check_driver(d)
        assert any("reachable pose reached" in p for p in report.passed)
        assert any("unreachable pose answered" in p for p in report.passed)
    finally:
        d.disconnect()


# -- deliberately broken drivers ------------------------------------------------------------
class DepthInMillimetres(MockDriver):
    def get_observation(self):
        obs = super().get_observation()
        obs.depth = np.full_like(obs.depth, 850.0)
        return obs


class RaisesOnUnreachable(MockDriver):
    def __init__(self):
        super().__init__()
        inner = self._motion.move_to_pose

        def move(pose, **kw):
            if not self._motion.is_reachable(pose):
                raise RuntimeError("IK failed")
            return inner(pose, **kw)

        self._motion.move_to_pose = move


class NotIdempotent(MockDriver):
    def connect(self):
        if self.is_connected:
            raise DriverError("already connected")
        super().connect()


class ObservesWhileDisconnected(MockDriver):
    def get_observation(self):
        was = self._connected
        self._connected = True
        try:
            return super().get_observation()
        finally:
            self._connected = was


class GripperNeverOpens(MockDriver):
    def __init__(self):
        super().__init__()
        inner = self._motion.set_gripper
        self._motion.set_gripper = lambda closed, **kw: inner(True, **kw)


class UntypedMotion(MockDriver):
    def __init__(self):
        super().__init__()
        self._motion.move_to_pose = lambda pose, **kw: {"ok": True}


class ReachesEverything(MockDriver):
    def __init__(self):
        super().__init__()
        self._motion.move_to_pose = lambda pose, **kw: MotionResult(
            MotionStatus.OK, 1, tuple(pose.position)
        )


class DropsAfterHome(MockDriver):
    """Its link drops once the arm has gone home: every later call raises, as a networked
    driver's does after a missed heartbeat."""

    def __init__(self):
        super().__init__()
        inner = self._motion.home

        def home(**kw):
            result = inner(**kw)
            self._connected = False
            return result

        self._motion.home = home


@pytest.mark.parametrize(
    ("driver_cls", "needle"),
    [
        (DepthInMillimetres, "observation.depth"),
        (RaisesOnUnreachable, "raised RuntimeError"),
        (NotIdempotent, "connect() (second call, idempotent) raised DriverError"),
        (ObservesWhileDisconnected, "disconnected driver returned; it must raise DriverError"),
        (GripperNeverOpens, "set_gripper(closed=False) reported closed=True"),
        (UntypedMotion, "returned dict; expected MotionResult"),
        (ReachesEverything, "expected a typed failure"),
        (DropsAfterHome, "get_observation() before move_to_pose raised DriverError"),
    ],
)
def test_broken_driver_is_named(driver_cls, needle):
    with pytest.raises(DriverContractError) as err:
        check_driver(driver_cls())
    assert isinstance(err.value, DriverError)
    message = str(err.value)
    assert needle in message, message
    assert message.startswith("driver 'mock' breaks the driver contract")


def test_missing_is_physical_is_named():
    class NoFlag(MockDriver):
        is_physical = None

    with pytest.raises(DriverContractError, match="is_physical must be a bool"):
        check_driver(NoFlag())
