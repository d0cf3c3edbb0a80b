"""`MockDriver`: a kinematic stand-in robot (no physics, no pybullet) for testing upper layers.

The end effector jumps to each target; a closed gripper "holds" the block its fingers are on,
which then moves with the hand; an opened gripper drops the block onto whatever is below it
(a block top, a bowl floor or the table). Step counts grow with distance so budgets mean
something, and observations carry ground truth like a simulator's: it implements
`SimulatorExtras` (scene reset, ground truth, teleport), so tasks run on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saycan.drivers.types import (
    CameraInfo,
    GripperResult,
    MotionResult,
    MotionStatus,
    ObjectState,
    Observation,
    Pose,
    Vec3,
    Workcell,
)
from saycan.errors import ConfigError, DriverError
from saycan.sim.layout import default_scene
from saycan.sim.scene_spec import ObjectSpec
from saycan.world import BLOCK_SIZE, BOWL_FLOOR, BOWL_HEIGHT, BOWL_INNER_RADIUS, BOWL_OUTER_RADIUS

HOME: Vec3 = (0.31, 0.0, 0.49)
SHOULDER = np.array([0.0, 0.0, 0.333])
REACH = 0.855
OPEN_WIDTH = 0.08
BOWL_SIZE: Vec3 = (2 * BOWL_OUTER_RADIUS,) * 2 + (BOWL_HEIGHT,)
#: Metres per control step (the mock's notion of time).
STEP_LENGTH = 0.002


@dataclass
class _Obj:
    name: str
    category: str
    colour: str
    position: np.ndarray
    size: Vec3

    def state(self) -> ObjectState:
        return ObjectState(
            self.name,
            self.category,
            self.colour,
            tuple(float(v) for v in self.position),
            size=self.size,
        )


class MockMotion:
    """Kinematic `MotionInterface`: instant moves, a gripper that attaches the nearest block."""

    def __init__(self, world: MockDriver) -> None:
        self.world = world
        self.ee = np.array(HOME, dtype=float)
        self.closed = False
        self.held: _Obj | None = None
        self._held_offset = np.zeros(3)
        self.steps = 0

    def _count(self, n: int) -> int:
        self.steps += n
        return n

    def _result(self, status: MotionStatus, steps: int, message: str = "") -> MotionResult:
        return MotionResult(status, steps, tuple(float(v) for v in self.ee), message)

    def move_to_pose(
        self, pose: Pose, *, max_steps: int = 2000, stop_on_contact: bool = False
    ) -> MotionResult:
        if not self.world.is_connected:
            return self._result(MotionStatus.DISCONNECTED, 0, "not connected")
        goal = np.asarray(pose.position, dtype=float)
        if not self.is_reachable(pose):
            return self._result(MotionStatus.UNREACHABLE, 0, "outside the reach sphere")
        status = MotionStatus.OK
        if stop_on_contact:
            # Stop where the held block's bottom (or the fingertips) meet the surface below.
            below = self.held.size[2] / 2 + self._held_offset[2] if self.held else 0.0
            surface = self.world.surface_below(goal[:2], exclude=self.held)
            if goal[2] - below < surface:
                goal = np.array([goal[0], goal[1], surface + below])
                status = MotionStatus.CONTACT
        n = max(1, int(math.ceil(np.linalg.norm(goal - self.ee) / STEP_LENGTH)))
        if n > max_steps:
            goal = self.ee + (goal - self.ee) * (max_steps / n)
            status, n = MotionStatus.TIMEOUT, max_steps
        self.ee = goal
        if self.held is not None:
            self.held.position = self.ee - self._held_offset
        return self._result(status, self._count(n))

    def set_gripper(self, closed: bool, *, max_steps: int = 500) -> GripperResult:
        if not self.world.is_connected:
            return GripperResult(MotionStatus.DISCONNECTED, closed, 0.0, False)
        n = self._count(min(max_steps, 40))
        self.closed = closed
        if closed:
            if self.held is None:
                self.held = self.world.block_at(self.ee)
                if self.held is not None:
                    self._held_offset = self.ee - self.held.position
            width = self.held.size[1] if self.held else 0.0
        else:
            if self.held is not None:
                self.world.drop(self.held)
            self.held = None
            width = OPEN_WIDTH
        return GripperResult(MotionStatus.OK, closed, float(width), self.held is not None, n)

    def home(self, *, max_steps: int = 3000) -> MotionResult:
        return self.move_to_pose(Pose(HOME), max_steps=max_steps)

    def ee_position(self) -> Vec3:
        return tuple(float(v) for v in self.ee)

    def is_reachable(self, pose: Pose) -> bool:
        p = np.asarray(pose.position, dtype=float)
        return bool(
            np.all(np.isfinite(p)) and np.linalg.norm(p - SHOULDER) <= REACH and p[2] > -0.02
        )


class MockDriver:
    """A `RobotDriver` without physics. `objects`: the scene (`ObjectSpec`s); default: random."""

    name = "mock"
    is_physical = False

    def __init__(
        self,
        objects: Sequence[ObjectSpec] | None = None,
        *,
        seed: int = 0,
        image_width: int = 64,
        image_height: int = 48,
        **_: Any,  # accepts (and ignores) simulator kwargs such as robot / camera sizes
    ) -> None:
        self._connected = False
        self._image = (int(image_height), int(image_width))
        self.objects: list[_Obj] = []
        self._motion = MockMotion(self)
        self.camera = _top_down_camera(int(image_width), int(image_height))
        if objects is None:
            objects = default_scene(np.random.default_rng(seed))
        self.reset_scene(objects, seed=seed)

    # -- RobotDriver ------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def motion(self) -> MockMotion:
        return self._motion

    @property
    def workcell(self) -> Workcell:
        """The same tabletop cell as the simulator's (`saycan.sim.cell`)."""
        from saycan.sim.cell import TABLETOP_CELL

        return TABLETOP_CELL

    def connect(self) -> None:
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def get_observation(self) -> Observation:
        if not self._connected:
            raise DriverError("mock driver is not connected; call connect() first")
        m = self._motion
        h, w = self._image
        return Observation(
            rgb=np.zeros((h, w, 3), np.uint8),
            depth=np.zeros((h, w), np.float32),
            camera=self.camera,
            joint_positions=np.zeros(7),
            gripper_width=0.0
            if m.closed and m.held is None
            else (m.held.size[1] if m.held else OPEN_WIDTH),
            ee_position=tuple(float(v) for v in m.ee),
            step=m.steps,
            gripper_holding=m.held is not None,
            ground_truth=tuple(o.state() for o in self.objects),
        )

    # -- SimulatorExtras (saycan.drivers.base): the mock is a (kinematic) simulator ---------
    def reset_scene(
        self, objects: Sequence[ObjectSpec], *, seed: int = 0, record_video: bool = False
    ) -> None:
        """Rebuild the world with `objects` (the mock has no other randomness)."""
        self._build(objects)
        m = self._motion
        m.ee, m.closed, m.held, m.steps = np.array(HOME, dtype=float), False, None, 0

    def ground_truth(self) -> tuple[ObjectState, ...]:
        return tuple(o.state() for o in self.objects)

    def video_frames(self) -> list[np.ndarray]:
        return []

    def set_render_images(self, render: bool) -> None:
        """The mock's images are blank and free: nothing to switch."""

    def set_disturbance(self, disturbance: Any) -> None:
        if disturbance is not None and getattr(disturbance, "name", "none") != "none":
            raise ConfigError(f"disturbance={disturbance.name} needs a physics simulator")

    def disturb(self, carried: str | None) -> list[dict]:
        return []

    def teleport_object(self, name: str, position: tuple[float, float, float]) -> int:
        obj = next(o for o in self.objects if o.name == name)
        obj.position = np.asarray(position, dtype=float)
        self.drop(obj)
        return 1

    # -- the kinematic world ------------------------------------------------------------------
    def _build(self, specs: Sequence[ObjectSpec]) -> None:
        self.objects = []
        by_name: dict[str, _Obj] = {}
        pending = list(specs)
        while pending:
            ready = [s for s in pending if s.on is None or s.on in by_name]
            if not ready:
                raise ValueError(f"unknown or cyclic supports in {[s.on for s in pending]}")
            for s in ready:
                pending.remove(s)
                size = (BLOCK_SIZE,) * 3 if s.category == "block" else BOWL_SIZE
                if s.on is None:
                    pos = np.array([s.xy[0], s.xy[1], size[2] / 2])
                else:
                    sup = by_name[s.on]
                    pos = np.array([sup.position[0], sup.position[1], _top(sup) + size[2] / 2])
                by_name[s.name] = _Obj(s.name, s.category, s.colour, pos, size)
        self.objects = [by_name[s.name] for s in specs]

    def surface_below(self, xy: np.ndarray, exclude: _Obj | None = None) -> float:
        """Height of the highest surface under `xy`: a block top, a bowl floor, or the table."""
        z = 0.0
        for o in self.objects:
            if o is exclude:
                continue
            d = float(np.hypot(*(np.asarray(xy) - o.position[:2])))
            if o.category == "bowl" and d < BOWL_INNER_RADIUS:
                z = max(z, _top(o))
            elif o.category == "block" and d < 0.6 * BLOCK_SIZE:
                z = max(z, _top(o))
        return z

    def block_at(self, ee: np.ndarray) -> _Obj | None:
        """The block between the fingers (centre within 2.5 cm of the end effector)."""
        near = [
            (float(np.linalg.norm(o.position - ee)), i, o)
            for i, o in enumerate(self.objects)
            if o.category == "block" and np.linalg.norm(o.position - ee) < 0.025
        ]
        return min(near)[2] if near else None

    def drop(self, obj: _Obj) -> None:
        z = self.surface_below(obj.position[:2], exclude=obj)
        obj.position = np.array([obj.position[0], obj.position[1], z + obj.size[2] / 2])


def _top(o: _Obj) -> float:
    """The surface an object placed on `o` rests on."""
    if o.category == "bowl":
        return float(o.position[2] - o.size[2] / 2 + BOWL_FLOOR)
    return float(o.position[2] + o.size[2] / 2)


def _top_down_camera(width: int, height: int) -> CameraInfo:
    """Looking straight down at the workspace centre from 0.85 m (as the simulator's camera)."""
    f = height / (2 * math.tan(math.radians(38.0) / 2))
    K = np.array([[f, 0, width / 2 - 0.5], [0, f, height / 2 - 0.5], [0, 0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = np.array(
        [[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]
    )  # columns: cam axes
    T[:3, 3] = (0.5, 0.0, 0.85)
    return CameraInfo(width, height, K, T, 0.1, 3.0)
