"""The contracts a robot must meet: `MotionInterface` (what motor primitives use) and
`RobotDriver` (connection + observations), shaped like LeRobot's robot classes.

Skills only see a `MotionInterface`, so the same pick-and-place runs in PyBullet and on a real
arm. `check_driver` (in :mod:`saycan.drivers.check`) verifies a driver against these contracts.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from saycan.drivers.types import GripperResult, MotionResult, Observation, Pose


@runtime_checkable
class MotionInterface(Protocol):
    """Cartesian motion of the end effector plus a parallel gripper.

    Guarantees: every call returns a typed result and never raises for a motion that merely
    fails; a step budget (`max_steps`), never the wall clock, bounds each call in simulation.
    """

    def move_to_pose(
        self, pose: Pose, *, max_steps: int = 2000, stop_on_contact: bool = False
    ) -> MotionResult:
        """Move the end effector to `pose` along a straight-ish line.

        With `stop_on_contact`, stop early (status CONTACT) when the fingers touch something:
        this is the guarded descent used to place objects.
        """
        ...

    def set_gripper(self, closed: bool, *, max_steps: int = 500) -> GripperResult:
        """Open or close the gripper; `holding` reports whether it closed on an object."""
        ...

    def home(self, *, max_steps: int = 3000) -> MotionResult:
        """Return to the rest configuration (above the table, out of the camera's way)."""
        ...

    def is_reachable(self, pose: Pose) -> bool:
        """Whether inverse kinematics finds a solution for `pose` (no motion is made)."""
        ...


@runtime_checkable
class RobotDriver(Protocol):
    """A robot, simulated or physical. `connect`/`disconnect` are idempotent."""

    name: str
    is_physical: bool  # physical drivers refuse parallel sweep launchers

    @property
    def is_connected(self) -> bool: ...

    @property
    def motion(self) -> MotionInterface: ...

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def get_observation(self) -> Observation: ...
