"""Values that cross the robot-driver boundary.

Units and frames (the same for simulated and real arms):
- positions in metres, in the *world frame*: origin on the table top under the robot base,
  +x away from the robot, +y to the robot's left, +z up (the table top is z = 0);
- orientations as quaternions (x, y, z, w), the PyBullet / ROS convention;
- gripper opening as the distance between the fingers, in metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable

import numpy as np

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

#: Gripper pointing straight down, fingers closing along the world y axis.
TOP_DOWN: Quat = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Pose:
    """A target for the end effector (the point between the fingertips)."""

    position: Vec3
    orientation: Quat = TOP_DOWN

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", tuple(float(v) for v in self.position))
        object.__setattr__(self, "orientation", tuple(float(v) for v in self.orientation))


@dataclass(frozen=True)
class Workcell:
    """The box (world frame, metres) a robot's end effector may ever be commanded into: its
    physical cell (the table top and its edges, the clearance under fixtures above it). A
    driver declares it (`DeclaresWorkcell`); the safety gate refuses any target outside it,
    whatever workspace the configuration asks for."""

    low: Vec3
    high: Vec3
    what: str = "the robot's cell"  # said in refusals: what bounds the box

    def contains(self, position: Vec3, *, below: float = 0.0) -> bool:
        """`position` is inside (the floor lowered by `below`, for guarded descents)."""
        lo = (self.low[0], self.low[1], self.low[2] - below)
        return all(lo[i] <= position[i] <= self.high[i] for i in range(3))

    def text(self) -> str:
        lo = ", ".join(f"{v:g}" for v in self.low)
        hi = ", ".join(f"{v:g}" for v in self.high)
        return f"({lo})..({hi}) m, {self.what}"


@runtime_checkable
class DeclaresWorkcell(Protocol):
    """A driver that declares its physical cell. The safety gate checks the configured
    workspace against it once (a wider one is a configuration error) and every target
    against it always, so no configuration can send the arm outside."""

    @property
    def workcell(self) -> Workcell: ...


class MotionStatus(str, Enum):
    """Why a motion ended. Every way a motion can fail has its own value."""

    OK = "ok"
    IK_FAILED = "ik_failed"  # no joint solution close enough to the target pose
    UNREACHABLE = "unreachable"  # target outside what the arm can reach
    TIMEOUT = "timeout"  # the step budget ran out before the target was reached
    COLLISION = "collision"  # unexpected contact stopped the motion
    CONTACT = "contact"  # a guarded move stopped on contact, as asked
    REFUSED = "refused"  # the safety gate refused the command (nothing was sent)
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class MotionResult:
    status: MotionStatus
    steps: int = 0  # control steps used (simulation steps in PyBullet)
    position: Vec3 | None = None  # end-effector position when the motion ended
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (MotionStatus.OK, MotionStatus.CONTACT)


@dataclass(frozen=True)
class GripperResult:
    status: MotionStatus
    closed: bool
    width: float  # finger opening after the command, metres
    holding: bool  # closed on something (width above the empty-closed width)
    steps: int = 0

    @property
    def ok(self) -> bool:
        return self.status == MotionStatus.OK


@dataclass(frozen=True)
class CameraInfo:
    """Pinhole camera: `intrinsics` is K (3x3); `world_from_camera` is a 4x4 transform whose
    camera axes follow OpenCV (x right, y down, z forward)."""

    width: int
    height: int
    intrinsics: np.ndarray
    world_from_camera: np.ndarray
    near: float = 0.01
    far: float = 10.0


@dataclass(frozen=True)
class ObjectState:
    """Ground truth about one object; only simulators fill it (perception=oracle reads it)."""

    name: str
    category: str
    colour: str
    position: Vec3
    orientation: Quat = (0.0, 0.0, 0.0, 1.0)
    size: Vec3 = (0.0, 0.0, 0.0)


@dataclass
class Observation:
    """What a driver returns from `get_observation()`."""

    rgb: np.ndarray | None  # (H, W, 3) uint8
    depth: np.ndarray | None  # (H, W) float32, metres along the optical axis
    camera: CameraInfo | None
    joint_positions: np.ndarray  # radians / metres, arm joints only
    gripper_width: float
    ee_position: Vec3
    step: int = 0  # the driver's control-step counter (simulation steps in PyBullet)
    gripper_holding: bool = False  # closed on an object (see GripperResult.holding)
    ground_truth: tuple[ObjectState, ...] | None = None  # simulators only
    extras: dict = field(default_factory=dict)
