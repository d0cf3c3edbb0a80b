"""`ExampleArmDriver`: the shape of a driver for a real arm, over a kinematic stand-in.

A driver for real hardware keeps this structure and replaces the `MockDriver` inside with a
client for the arm's controller (a vendor SDK, ROS, or a network connection): see
docs/drivers.md. Everything the stack needs is the `saycan.drivers.base.RobotDriver` contract;
the `SimulatorExtras` below exist only because the stand-in is a simulator.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from saycan.drivers.mock import MockDriver
from saycan.drivers.types import GripperResult, MotionResult, Observation, Pose
from saycan.errors import DriverError


class ExampleMotion:
    """`MotionInterface`: forwards commands to the controller and adds its latency in steps.

    Guarantees (checked by `check_driver`): never raises for a motion that fails (a typed
    `MotionResult` status instead); step budgets, never the wall clock, bound each call.
    """

    def __init__(self, driver: ExampleArmDriver) -> None:
        self._driver = driver

    @property
    def _arm(self):
        return self._driver._backend.motion

    def move_to_pose(
        self, pose: Pose, *, max_steps: int = 2000, stop_on_contact: bool = False
    ) -> MotionResult:
        res = self._arm.move_to_pose(pose, max_steps=max_steps, stop_on_contact=stop_on_contact)
        return replace(res, steps=res.steps + self._driver.latency_steps)

    def set_gripper(self, closed: bool, *, max_steps: int = 500) -> GripperResult:
        return self._arm.set_gripper(closed, max_steps=max_steps)

    def home(self, *, max_steps: int = 3000) -> MotionResult:
        return self._arm.home(max_steps=max_steps)

    def is_reachable(self, pose: Pose) -> bool:
        return self._arm.is_reachable(pose)

    def ee_position(self) -> tuple[float, float, float]:
        return self._arm.ee_position()


class ExampleArmDriver:
    """A `RobotDriver` shipped by a plugin package."""

    is_physical = False  # a real arm says True: parallel sweep launchers are then refused

    def __init__(
        self, name: str = "example-arm", latency_steps: int = 5, **backend_kwargs: Any
    ) -> None:
        self.name = name
        self.latency_steps = int(latency_steps)
        self._backend = MockDriver(**backend_kwargs)
        self._motion = ExampleMotion(self)

    # -- connection: idempotent ---------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._backend.is_connected

    def connect(self) -> None:
        if not self.is_connected:  # a real driver opens the controller connection here
            self._backend.connect()

    def disconnect(self) -> None:
        if self.is_connected:  # ...and stops the arm, opens nothing new, closes the link here
            self._backend.disconnect()

    # -- RobotDriver ----------------------------------------------------------------------------
    @property
    def motion(self) -> ExampleMotion:
        return self._motion

    def get_observation(self) -> Observation:
        if not self.is_connected:
            raise DriverError(f"{self.name} is not connected; call connect() first")
        obs = self._backend.get_observation()
        obs.extras["driver"] = self.name
        return obs

    # -- SimulatorExtras (saycan.drivers.base): only because the stand-in is a simulator. ------
    # A driver for a real arm leaves all of these out: the runner then runs episodes without a
    # task on whatever the camera sees (`saycan run robot=... instruction="..."`).
    def reset_scene(self, objects, *, seed: int, record_video: bool = False) -> None:
        self._backend.reset_scene(objects, seed=seed, record_video=record_video)

    def ground_truth(self):
        return self._backend.ground_truth()

    def video_frames(self) -> list:
        return []

    def set_render_images(self, render: bool) -> None:
        self._backend.set_render_images(render)

    def set_disturbance(self, disturbance: Any) -> None:
        self._backend.set_disturbance(disturbance)

    def disturb(self, call: Any, result: Any) -> list[dict]:
        return self._backend.disturb(call, result)

    def teleport_object(self, name: str, position: tuple[float, float, float]) -> int:
        return self._backend.teleport_object(name, position)
