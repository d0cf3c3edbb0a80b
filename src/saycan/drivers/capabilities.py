"""What a `MotionInterface` may offer beyond its contract, each one declared protocol that the
safety gate and the motor primitives check once with `isinstance`, never by probing names.

A real-arm driver implements those it can: without `ReportsPosition` a failed skill cannot lift
clear from where the hand is; without `DeclaresSpeed` / `ControlRate` the gate can neither
refuse a motion that is too fast before it is sent nor measure one that was; without
`SolvesJoints` it cannot check joint limits before a move.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from saycan.drivers.types import Pose, Vec3


@runtime_checkable
class ReportsPosition(Protocol):
    """Where the end effector is now (world frame, metres); a query that moves nothing."""

    def ee_position(self) -> Vec3: ...


@runtime_checkable
class DeclaresSpeed(Protocol):
    """The fastest Cartesian speed a move commands (m/s)."""

    @property
    def max_speed(self) -> float: ...


@runtime_checkable
class ControlRate(Protocol):
    """Control steps per second: turns a motion's step count into seconds."""

    @property
    def control_hz(self) -> float: ...


@runtime_checkable
class SolvesJoints(Protocol):
    """Inverse kinematics without moving: the joints a move would end at, and their limits."""

    def joint_solution(self, pose: Pose) -> np.ndarray | None: ...

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class ChecksPoses(Protocol):
    """Says, without sending anything, why a move to `pose` would be refused (None: allowed):
    the safety gate's motion, so a skill refuses before its first motion, not halfway."""

    def check_pose(self, pose: Pose, *, guarded: bool = False) -> str | None: ...
