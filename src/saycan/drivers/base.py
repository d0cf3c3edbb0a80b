"""The contracts a robot must meet: `MotionInterface` (what motor primitives use) and
`RobotDriver` (connection + observations), shaped like LeRobot's robot classes.

Skills only see a `MotionInterface`, so the same pick-and-place runs in PyBullet and on a real
arm. `check_driver` (in :mod:`saycan.drivers.check`) verifies a driver against these contracts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from saycan.drivers.types import GripperResult, MotionResult, ObjectState, Observation, Pose, Vec3
from saycan.sim.scene_spec import ObjectSpec


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


@runtime_checkable
class SimulatorExtras(Protocol):
    """What only a simulator can do; a physical arm has none of it.

    The episode runner checks this once (`isinstance`) and never probes single methods: with
    it, the runner places a sampled scene, judges a task from ground truth and saves a video;
    without it, an episode runs on whatever the robot perceives and is judged by perception.
    Drivers know nothing about tasks: the runner samples the task and hands over the objects.
    """

    def reset_scene(
        self, objects: Sequence[ObjectSpec], *, seed: int, record_video: bool = False
    ) -> None:
        """Rebuild the world with `objects` placed (the robot at home); `seed` fixes the rest
        of the simulator's randomness (physics settling, disturbances)."""
        ...

    def ground_truth(self) -> tuple[ObjectState, ...]:
        """Every object's true state now (for judging a task, never for deciding)."""
        ...

    def video_frames(self) -> list[np.ndarray]:
        """Frames recorded since the last reset (empty when not recording)."""
        ...

    def set_render_images(self, render: bool) -> None:
        """Render the camera with each observation, or skip it when nothing reads images."""
        ...

    def set_disturbance(self, disturbance: Any) -> None:
        """Perturb episodes with `disturbance` from the next reset on (None: no disturbance)."""
        ...

    def disturb(self, carried: str | None) -> list[dict]:
        """After a skill ran: what the disturbance did (one JSON-able dict per event).
        `carried`: the object a successful skill lifted and carried to a new place (its skill
        says which, `Skill.carried`), None when there was none."""
        ...

    def teleport_object(self, name: str, position: Vec3) -> int:
        """Put an object's centre at `position` (upright), let physics settle; returns steps."""
        ...


@runtime_checkable
class Haltable(Protocol):
    """A driver that can stop its arm on request from another thread (a watchdog), while a
    motion runs in the thread that commanded it. A robot host calls `halt()` when its client
    falls silent; the motion in progress ends by raising `saycan.errors.MotionHalted`."""

    def halt(self) -> None:
        """Ask the arm to stop now (thread-safe: it only raises a flag the motion checks)."""
        ...

    def clear_halt(self) -> None:
        """Allow motion again (a new session, after the operator reconnected)."""
        ...
