"""The Franka Panda from `pybullet_data` with its parallel gripper, fixed at the world origin."""

from __future__ import annotations

from saycan.sim.robots.base import RobotConfig

CONFIG = RobotConfig(
    name="panda",
    urdf="franka_panda/panda.urdf",
    arm_joints=(0, 1, 2, 3, 4, 5, 6),
    finger_joints=(9, 10),
    ee_link=11,  # panda_grasptarget: between the fingertips
    # Franka "ready" pose: hand above the table, fingers along world y, out of the camera view.
    rest_pose=(0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785),
    finger_open=0.04,
    finger_closed=0.0,
    gripper_links=(8, 9, 10),  # hand and both fingers
    arm_force=(87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0),
    finger_force=40.0,
    shoulder=(0.0, 0.0, 0.333),
    reach=0.855,
)
