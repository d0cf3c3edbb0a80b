"""UFACTORY xArm6 with its xArm gripper (a linkage parallel gripper) from `pybullet_data`.

The URDF has no link between the fingertips, so the tool centre point is `tcp_offset` along the
flange axis. The gripper is six joints that URDF <mimic> tags couple; PyBullet does not
simulate mimic tags: the drive joint has the motor and the other five follow it
through gear constraints (`linkage`), which keeps the finger pads parallel.
"""

from __future__ import annotations

from saycan.sim.robots.base import RobotConfig

CONFIG = RobotConfig(
    name="xarm6",
    urdf="xarm/xarm6_with_gripper.urdf",
    arm_joints=(1, 2, 3, 4, 5, 6),
    finger_joints=(9, 12),  # left_finger, right_finger: the links that touch the object
    mimic_joints=(8, 10, 11, 13),  # drive joint, inner knuckles, right outer knuckle
    width_joints=(8, 11),  # the outer knuckles stop when the fingers close on an object
    ee_link=7,  # xarm_gripper_base_link (its z axis points out of the flange)
    tcp_offset=(0.0, 0.0, 0.155),
    rest_pose=(0.0, -0.769, -1.162, 0.0, 1.931, 0.0),  # hand at (0.31, 0, 0.45), pointing down
    finger_open=0.0,
    finger_closed=0.85,
    finger_width_offset=0.082,
    finger_width_scale=-0.082 / 1.7,
    gripper_links=(7, 8, 9, 10, 11, 12, 13),
    arm_force=(50.0, 50.0, 32.0, 32.0, 32.0, 20.0),
    finger_force=20.0,
    finger_max_velocity=1.5,
    gear_fingers=False,
    # The four-bar linkage: every knuckle and finger follows the drive joint (the URDF's mimic
    # multipliers are all 1), so only joint 8 has a motor. Driven separately, the finger joints
    # kept closing after the knuckles stopped on a block, tilted the pads and pinched it at
    # the tips (the block pivoted in the grasp and tumbled off block-on-block placements).
    linkage=((8, 9), (8, 10), (8, 11), (8, 12), (8, 13)),
    base_position=(0.10, 0.0, 0.0),  # mounted 10 cm forward so the far corners are in reach
    shoulder=(0.10, 0.0, 0.267),
    reach=0.86,
)
