"""saycan.drivers: the robot contracts, the shipped drivers and the conformance check.

Nothing here imports pybullet until a simulated driver connects.
"""

from saycan.drivers.base import MotionInterface, RobotDriver
from saycan.drivers.check import CheckReport, DriverContractError, check_driver
from saycan.drivers.mock import MockDriver
from saycan.drivers.pybullet_driver import PyBulletDriver
from saycan.drivers.types import GripperResult, MotionResult, MotionStatus, Observation, Pose

__all__ = [
    "CheckReport",
    "DriverContractError",
    "GripperResult",
    "MockDriver",
    "MotionInterface",
    "MotionResult",
    "MotionStatus",
    "Observation",
    "Pose",
    "PyBulletDriver",
    "RobotDriver",
    "check_driver",
]
