"""Simulated arms: `RobotConfig` data per robot (one module each) and the `SimRobot` body."""

from saycan.sim.robots.base import RobotConfig, SimRobot, load_robot_config
from saycan.sim.robots.panda import CONFIG as PANDA

__all__ = ["PANDA", "RobotConfig", "SimRobot", "load_robot_config"]
